import { describe, expect, it } from 'vitest';
import { DanError } from '../../lib/errors.js';
import { InProcessSpawner, type InProcessAgent, type InProcessAgentContext } from '../../lib/spawner/in-process-spawner.js';
import type { AgentExit, SpawnRequest } from '../../lib/spawner/spawner.js';

/** An agent under the test's control: it ends when told to, or fails, or never stops. */
function fakeAgent(behaviour: { ignoresStop?: boolean } = {}) {
  let finish: () => void = () => undefined;
  let fail: (error: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => { finish = resolve; fail = reject; });
  const agent: InProcessAgent = { done, stop: async () => { if (!behaviour.ignoresStop) finish(); } };
  return { agent, finish, fail };
}

function request(agentId: string, env: Record<string, string> = {}): SpawnRequest {
  return { domain: 'backend', agentId, env: { AGENT_ROLE: 'domain', AGENT_ID: agentId, DOMAIN_TYPE: 'backend', DAN_LOG_LEVEL: 'info', ...env } };
}

function spawnerWith(start: (context: InProcessAgentContext) => Promise<InProcessAgent>) {
  const exits: AgentExit[] = [];
  const spawner = new InProcessSpawner({ start });
  spawner.onExit((exit) => exits.push(exit));
  const exitOf = async (agentId: string): Promise<AgentExit> => {
    for (;;) {
      const exit = exits.find((e) => e.agentId === agentId);
      if (exit) return exit;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  return { spawner, exits, exitOf };
}

describe('InProcessSpawner', () => {
  it('gives the start function the settings parsed from the request, and keeps what the agent logs', async () => {
    let seen: InProcessAgentContext | undefined;
    const { agent } = fakeAgent();
    const { spawner } = spawnerWith(async (context) => {
      seen = context;
      context.logger.info({ taskId: 't-1' }, 'took a task');
      return agent;
    });
    const spawned = await spawner.spawn(request('backend-00000001', { DAN_LEASE_MS: '4321' }));
    expect(spawned.handle).toBe('in-process:backend-00000001');
    await spawner.stop('backend-00000001');
    expect(seen).toMatchObject({ agentId: 'backend-00000001', domain: 'backend', config: { leaseMs: 4321, domainType: 'backend' } });
    const [line] = await spawner.lastLines('backend-00000001');
    expect(JSON.parse(line!)).toMatchObject({ msg: 'took a task', taskId: 't-1', agentId: 'backend-00000001', domain: 'backend' });
  });

  it('reports an agent that ended by itself with code 0, and one whose run failed with code 1 and why', async () => {
    const idle = fakeAgent();
    const broken = fakeAgent();
    const agents = [idle.agent, broken.agent];
    const { spawner, exitOf } = spawnerWith(async () => agents.shift()!);
    await spawner.spawn(request('backend-00000002'));
    await spawner.spawn(request('backend-00000003'));
    idle.finish();
    broken.fail(new Error('lost the workspace'));
    expect(await exitOf('backend-00000002')).toEqual({ agentId: 'backend-00000002', domain: 'backend', code: 0, signal: null });
    expect(await exitOf('backend-00000003')).toMatchObject({ code: 1, signal: null });
    expect(await spawner.lastLines('backend-00000003')).toContain('dan agent: lost the workspace');
    expect(spawner.list()).toEqual([]);
  });

  it('reports an agent that fails to start with the exit code of its error', async () => {
    const { spawner, exitOf } = spawnerWith(async () => { throw new DanError('redis_unreachable', 'REDIS_URL is not reachable', { exitCode: 3 }); });
    await spawner.spawn(request('backend-00000004'));
    expect(await exitOf('backend-00000004')).toMatchObject({ code: 3 });
    expect(await spawner.lastLines('backend-00000004')).toEqual(['dan agent: REDIS_URL is not reachable']);
  });

  it('reports an agent that ignores stop as killed after the grace, once, and lists it no more', async () => {
    const stubborn = fakeAgent({ ignoresStop: true });
    const { spawner, exits } = spawnerWith(async () => stubborn.agent);
    await spawner.spawn(request('backend-00000005'));
    await spawner.stop('backend-00000005', 10);
    expect(exits).toEqual([{ agentId: 'backend-00000005', domain: 'backend', code: null, signal: 'SIGKILL' }]);
    expect(spawner.list()).toEqual([]);
    stubborn.finish();
    await stubborn.agent.done;
    await new Promise((resolve) => setImmediate(resolve));
    expect(exits).toHaveLength(1);
  });

  it('stops an agent that is still starting once it has started', async () => {
    const later = fakeAgent();
    let started: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => { started = resolve; });
    const { spawner, exits } = spawnerWith(async () => { await ready; return later.agent; });
    await spawner.spawn(request('backend-00000006'));
    const stopping = spawner.stop('backend-00000006', 5_000);
    started();
    await stopping;
    expect(exits).toEqual([{ agentId: 'backend-00000006', domain: 'backend', code: 0, signal: null }]);
  });
});
