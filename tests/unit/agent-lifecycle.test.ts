import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/logger.js';
import type { AgentLoop, AgentParts, LifecycleConsumer } from '../../lib/runtime/agent-lifecycle.js';
import { AgentLifecycle } from '../../lib/runtime/agent-lifecycle.js';

/** Fake parts that write every step they take into `steps`. */
function fakeParts(steps: string[], overrides: Partial<AgentParts> = {}) {
  let endConsumer: (why: 'idle' | 'stopped') => void = () => undefined;
  const consumer: LifecycleConsumer = {
    start: () => { steps.push('consume'); return new Promise((resolve) => { endConsumer = resolve; }); },
    stop: async () => { steps.push('stop consuming'); endConsumer('stopped'); return []; },
  };
  const loop: AgentLoop = {
    name: 'extra',
    run: (signal) => new Promise((resolve) => { steps.push('loop'); signal.addEventListener('abort', () => { steps.push('loop ended'); resolve(); }); }),
  };
  const parts: AgentParts = {
    register: async () => { steps.push('register'); },
    heartbeat: { start: () => steps.push('heartbeat'), stop: () => steps.push('heartbeat stopped') },
    consumer, loops: [loop],
    deregister: async () => { steps.push('deregister'); },
    close: () => steps.push('close'),
    ...overrides,
  };
  return { parts, idle: () => endConsumer('idle') };
}

function lifecycle(open: (stop: () => Promise<void>) => Promise<AgentParts>, stopBoundMs?: number) {
  return new AgentLifecycle({ agentId: 'backend-1', logger: silentLogger, graceMs: 10, open, ...(stopBoundMs !== undefined ? { stopBoundMs } : {}) });
}

describe('AgentLifecycle', () => {
  it('starts and stops its parts in one order, and its state says where it is', async () => {
    const steps: string[] = [];
    const agent = lifecycle(async () => { steps.push('open'); return fakeParts(steps).parts; });
    expect(agent.state).toBe('starting');
    await agent.start();
    expect(agent.state).toBe('running');
    expect(steps).toEqual(['open', 'register', 'heartbeat', 'consume', 'loop']);
    const stopping = agent.stop();
    expect(agent.state).toBe('stopping');
    await stopping;
    expect(agent.state).toBe('stopped');
    expect(steps.slice(5)).toEqual(['loop ended', 'stop consuming', 'heartbeat stopped', 'deregister', 'close']);
    expect(await agent.done).toEqual({ why: 'stopped', problems: [] });
  });

  it('stop called twice runs one shutdown', async () => {
    const steps: string[] = [];
    const agent = lifecycle(async () => fakeParts(steps).parts);
    await agent.start();
    await Promise.all([agent.stop(), agent.stop()]);
    await agent.stop();
    expect(steps.filter((s) => s === 'deregister')).toEqual(['deregister']);
    expect(steps.filter((s) => s === 'close')).toEqual(['close']);
  });

  it('stop asked while starting waits for the start, then stops in order', async () => {
    const steps: string[] = [];
    let opened: () => void = () => undefined;
    const agent = lifecycle(async () => { await new Promise<void>((resolve) => { opened = resolve; }); return fakeParts(steps).parts; });
    const starting = agent.start();
    const stopped = agent.stop();
    opened();
    await starting;
    await stopped;
    expect(agent.state).toBe('stopped');
    expect(steps).toContain('register');
    expect(steps.slice(-2)).toEqual(['deregister', 'close']);
  });

  it('a loop that throws stops the agent and says which loop', async () => {
    const steps: string[] = [];
    const failing: AgentLoop = { name: 'domain supervisor', run: async () => { throw new Error('boom'); } };
    const agent = lifecycle(async () => fakeParts(steps, { loops: [failing] }).parts);
    await agent.start();
    const end = await agent.done;
    expect(agent.state).toBe('stopped');
    expect(end.problems).toEqual(['the domain supervisor loop failed: boom']);
    expect(steps).toContain('deregister');
  });

  it('an idle consumer ends the agent as idle', async () => {
    const steps: string[] = [];
    const fake = fakeParts(steps);
    const agent = lifecycle(async () => fake.parts);
    await agent.start();
    fake.idle();
    expect((await agent.done).why).toBe('idle');
    expect(steps).toContain('deregister');
  });

  it('stopping ends even when deregistering never does, and says what it could not do', async () => {
    const steps: string[] = [];
    const agent = lifecycle(async () => fakeParts(steps, { deregister: () => new Promise(() => undefined) }).parts, 50);
    await agent.start();
    await agent.stop();
    const end = await agent.done;
    expect(end.problems).toEqual(['could not deregister agent backend-1: it did not finish in time (is Redis unreachable?)']);
    expect(steps.at(-1)).toBe('close');
  });

  it('names the tasks it could not hand back', async () => {
    const steps: string[] = [];
    const fake = fakeParts(steps);
    const consumer: LifecycleConsumer = { start: fake.parts.consumer.start, stop: async () => ['task-7'] };
    const agent = lifecycle(async () => ({ ...fake.parts, consumer }), 50);
    await agent.start();
    await agent.stop();
    expect((await agent.done).problems).toContain('could not hand back task task-7: Redis unreachable');
  });

  it('a failed registration closes what was opened and rejects', async () => {
    const steps: string[] = [];
    const agent = lifecycle(async () => fakeParts(steps, { register: async () => { throw new Error('no redis'); } }).parts);
    await expect(agent.start()).rejects.toThrow('no redis');
    expect(agent.state).toBe('stopped');
    expect(steps).toEqual(['close']);
  });
});
