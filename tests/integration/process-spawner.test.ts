import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DanError } from '../../lib/errors.js';
import { createLogger } from '../../lib/logger.js';
import { ProcessSpawner, type ProcessSpawnerOptions } from '../../lib/spawner/process-spawner.js';
import { instanceSuffix, type AgentExit, type SpawnRequest } from '../../lib/spawner/spawner.js';

const fakeAgent = fileURLToPath(new URL('../fixtures/fake-agent.mjs', import.meta.url));
const spawners: ProcessSpawner[] = [];

function newSpawner(options: ProcessSpawnerOptions = {}): ProcessSpawner {
  const spawner = new ProcessSpawner({ command: [process.execPath, fakeAgent], ...options });
  spawners.push(spawner);
  return spawner;
}

function request(domain: string, extraEnv: Record<string, string> = {}): SpawnRequest {
  const agentId = `${domain}-${instanceSuffix()}`;
  return {
    domain,
    agentId,
    env: { AGENT_ROLE: 'domain', AGENT_ID: agentId, DOMAIN_TYPE: domain, REDIS_URL: 'redis://127.0.0.1:6399', ...extraEnv },
  };
}

/** Waits (bounded by the test timeout) until the agent has printed `line`. */
async function waitForLine(spawner: ProcessSpawner, agentId: string, line: string): Promise<void> {
  while (!(await spawner.lastLines(agentId)).includes(line)) await new Promise((r) => setTimeout(r, 20));
}

/** The exit report of one agent; call before the agent can end. */
function exitOf(spawner: ProcessSpawner, agentId: string): Promise<AgentExit> {
  return new Promise((resolve) => spawner.onExit((exit) => { if (exit.agentId === agentId) resolve(exit); }));
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

afterEach(async () => {
  await Promise.all(spawners.splice(0).map((spawner) => spawner.close(500)));
});

describe('ProcessSpawner', () => {
  it('hands every output line to onLine with the agent id', async () => {
    const seen: string[] = [];
    const spawner = newSpawner({ onLine: (agentId, line) => seen.push(`${agentId} ${line}`) });
    const req = request('frontend');
    await spawner.spawn(req);
    await waitForLine(spawner, req.agentId, 'ready');
    expect(seen).toContain(`${req.agentId} ready`);
  });

  it('keeps settings agents must not get out of what the child inherits, and passes the forwarded ones', async () => {
    const spawner = newSpawner({ baseEnv: { ...process.env, DAN_SPAWNER: 'docker', DAN_ROUTER: 'llm', DAN_MAX_TURNS: '7' } });
    const req = request('backend', { FAKE_AGENT_ECHO: 'DAN_SPAWNER,DAN_ROUTER,DAN_MAX_TURNS' });
    await spawner.spawn(req);
    await waitForLine(spawner, req.agentId, 'ready');
    expect(await spawner.lastLines(req.agentId)).toEqual(expect.arrayContaining(['DAN_SPAWNER=', 'DAN_ROUTER=', 'DAN_MAX_TURNS=7']));
  });

  it('passes the environment contract to the child and shows its output in lastLines', async () => {
    const spawner = newSpawner({ baseEnv: { ...process.env, FROM_BASE: 'base', OVERRIDDEN: 'base' } });
    const req = request('backend', { OVERRIDDEN: 'request', FAKE_AGENT_ECHO: 'FROM_BASE,OVERRIDDEN' });

    const agent = await spawner.spawn(req);
    await waitForLine(spawner, req.agentId, 'ready');
    await waitForLine(spawner, req.agentId, `pid ${agent.handle} on stderr`);

    const lines = await spawner.lastLines(req.agentId);
    expect(lines).toEqual(expect.arrayContaining([
      'AGENT_ROLE=domain',
      `AGENT_ID=${req.agentId}`,
      'DOMAIN_TYPE=backend',
      'REDIS_URL=redis://127.0.0.1:6399',
      'FROM_BASE=base',
      'OVERRIDDEN=request',
    ]));
    expect(spawner.list()).toEqual([{ agentId: req.agentId, domain: 'backend', handle: agent.handle, startedAt: agent.startedAt }]);
    expect(isRunning(Number(agent.handle))).toBe(true);
  });

  it('forwards each output line to the logger at debug level with agentId and domain', async () => {
    const logged: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const spawner = newSpawner({ logger: createLogger({ level: 'debug', destination }) });
    const req = request('frontend');

    await spawner.spawn(req);
    await waitForLine(spawner, req.agentId, 'ready');

    expect(logged).toContainEqual(expect.objectContaining({ level: 'debug', agentId: req.agentId, domain: 'frontend', msg: 'ready' }));
  });

  it('keeps only the last logLines lines, and still shows them after the child exited', async () => {
    const spawner = newSpawner({ logLines: 3 });
    const req = request('devops', { FAKE_AGENT_EXIT_CODE: '0' });
    const exited = exitOf(spawner, req.agentId);

    await spawner.spawn(req);
    await exited;

    const lines = await spawner.lastLines(req.agentId);
    expect(lines).toHaveLength(3);
    expect(lines).toContain('ready');
    expect(lines).not.toContain('AGENT_ROLE=domain');
    expect(await spawner.lastLines(req.agentId, 1)).toEqual(lines.slice(-1));
    expect(await spawner.lastLines('devops-00000000')).toEqual([]);
  });

  it('reports the exit code of a child that ends by itself, once, and drops it from list()', async () => {
    const spawner = newSpawner();
    const req = request('backend', { FAKE_AGENT_EXIT_CODE: '3' });
    const exits: AgentExit[] = [];
    spawner.onExit((exit) => exits.push(exit));
    const exited = exitOf(spawner, req.agentId);

    await spawner.spawn(req);

    expect(await exited).toEqual({ agentId: req.agentId, domain: 'backend', code: 3, signal: null });
    await spawner.close(500);
    expect(exits).toHaveLength(1);
    expect(spawner.list()).toEqual([]);
  });

  it('reports the signal of a child that was killed with SIGKILL', async () => {
    const spawner = newSpawner();
    const req = request('frontend');
    const exited = exitOf(spawner, req.agentId);
    const agent = await spawner.spawn(req);
    await waitForLine(spawner, req.agentId, 'ready');

    process.kill(Number(agent.handle), 'SIGKILL');

    expect(await exited).toEqual({ agentId: req.agentId, domain: 'frontend', code: null, signal: 'SIGKILL' });
    expect(spawner.list()).toEqual([]);
  });

  it('stop() asks with SIGTERM, and a child that honours it exits with code 0', async () => {
    const spawner = newSpawner();
    const req = request('backend');
    const exited = exitOf(spawner, req.agentId);
    const agent = await spawner.spawn(req);
    await waitForLine(spawner, req.agentId, 'ready');

    await spawner.stop(req.agentId, 30_000);

    expect(await exited).toMatchObject({ code: 0, signal: null });
    expect(await spawner.lastLines(req.agentId)).toContain('stopping on SIGTERM');
    expect(isRunning(Number(agent.handle))).toBe(false);
    expect(spawner.list()).toEqual([]);
  });

  it('stop() kills a child that ignores SIGTERM with SIGKILL after the grace', async () => {
    const spawner = newSpawner();
    const req = request('devops', { FAKE_AGENT_IGNORE_SIGTERM: '1' });
    const exited = exitOf(spawner, req.agentId);
    const agent = await spawner.spawn(req);
    await waitForLine(spawner, req.agentId, 'ready');

    await spawner.stop(req.agentId, 300);

    expect(await exited).toMatchObject({ code: null, signal: 'SIGKILL' });
    expect(await spawner.lastLines(req.agentId)).toContain('ignoring SIGTERM');
    expect(isRunning(Number(agent.handle))).toBe(false);
  });

  it('rejects a command that cannot start with a DanError naming the command', async () => {
    const missing = '/nonexistent/dan-agent-binary';
    const spawner = newSpawner({ command: [missing, '--flag'] });

    const failure = await spawner.spawn(request('backend')).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(DanError);
    expect(failure).toMatchObject({ code: 'spawn_failed' });
    expect((failure as Error).message).toContain(missing);
    expect((failure as Error).message).toContain('ENOENT');
    expect(spawner.list()).toEqual([]);
  });

  it('refuses to spawn a second agent with the same agentId', async () => {
    const spawner = newSpawner();
    const req = request('backend');
    await spawner.spawn(req);

    await expect(spawner.spawn(req)).rejects.toMatchObject({ code: 'agent_exists', message: expect.stringContaining(req.agentId) });
    expect(spawner.list().map((agent) => agent.agentId)).toEqual([req.agentId]);
  });

  it('close() stops every child, including one that ignores SIGTERM, and refuses new spawns', async () => {
    const spawner = newSpawner();
    const requests = [request('backend'), request('frontend'), request('devops', { FAKE_AGENT_IGNORE_SIGTERM: '1' })];
    const agents = await Promise.all(requests.map((req) => spawner.spawn(req)));
    await Promise.all(requests.map((req) => waitForLine(spawner, req.agentId, 'ready')));

    await spawner.close(300);

    for (const agent of agents) expect(isRunning(Number(agent.handle)), `pid ${agent.handle} still runs`).toBe(false);
    expect(spawner.list()).toEqual([]);
    await expect(spawner.spawn(request('backend'))).rejects.toMatchObject({ code: 'spawner_closed' });
  });
});
