import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { childTaskId } from '../../src/main/delegation.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { testRedisUrl } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';

/**
 * The audit's reproductions of messages believed instead of checked (M3a, M4, M5, M6): whoever reaches
 * Redis can publish on a result channel, register an agent by hand, or push a task under a used id.
 */
const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
let network: TestNetwork;

const dan = (args: string[]) => runProcess(process.execPath, [bin, ...args], { env: cliEnv(network), timeoutMs: 60_000 });
const cli = (...args: string[]) => execFileSync('redis-cli', ['-u', testRedisUrl(), ...args], { encoding: 'utf8' });
const deadEntries = async (domain: string) =>
  (await network.redis.lrange(network.keys.dead(domain), 0, -1)).map((s) => JSON.parse(s) as Record<string, unknown>);

beforeAll(async () => {
  network = await startTestNetwork({
    env: { DAN_ELF: 'off' },
    rules: [
      // The audit's ATKT02: a backend worker that answers after a while, so its sub-task is seen running.
      { name: 'slow-genuine', when: { system: '^\\s*Worker:', anyText: '^Task: SLOWGENUINE\\b' }, reply: { text: '{"summary": "genuine slow answer"}', delay_ms: 4_000 } },
      ...defaultRules(),
    ],
  });
});
afterAll(async () => { await network.stop(); });

describe('messages are checked, not believed', () => {
  it('starts backend for a waiting task although a hand-made agent heartbeats for it, and dan agents shows that agent as unexplained [audit #43]', async () => {
    const { keys } = network;
    const ghost = 'backend-deadbeef';
    const now = new Date().toISOString();
    cli('HSET', keys.agentInfo(ghost), 'agent_id', ghost, 'role', 'domain', 'domain_type', 'backend', 'status', 'idle', 'created_at', now, 'last_heartbeat', now);
    cli('SET', keys.heartbeat(ghost), now, 'EX', '120');
    cli('SADD', keys.agentsOfDomain('backend'), ghost);
    try {
      const { taskId } = await submitTask(network.redis, keys, { domain: 'backend', type: 'echo', description: 'ghost check', extraPayload: { message: 'served' } });
      const hash = await network.waitFor(taskId, 40_000);
      expect(hash['status']).toBe('completed');
      expect(hash['agent_id']).not.toBe(ghost);

      const listed = await dan(['agents', '--json']);
      expect(listed.code).toBe(0);
      const agents = (JSON.parse(listed.stdout) as { agents: { agent_id: string; unexplained: boolean }[] }).agents;
      expect(agents.find((a) => a.agent_id === ghost)).toMatchObject({ unexplained: true });
      expect(agents.find((a) => a.agent_id === hash['agent_id'])).toMatchObject({ unexplained: false });
      const text = await dan(['agents']);
      expect(text.stdout.split('\n').find((l) => l.startsWith(ghost))).toMatch(/unexplained/);
    } finally {
      // A later test needs backend's agents to count as they do without it.
      cli('DEL', keys.heartbeat(ghost));
    }
  });

  it('does not complete a routed parent on a forged PUBLISH while its sub-task still runs [audit #42]', async () => {
    const { redis, keys } = network;
    const { taskId: parent } = await submitTask(redis, keys, { domain: 'main', description: 'SLOWGENUINE api endpoint' });
    const child = childTaskId(parent, 'backend');
    await until('the backend sub-task to run', async () => (await redis.hget(keys.result(child), 'status')) === 'in_progress', 40_000);
    cli('PUBLISH', keys.resultChannel(child), JSON.stringify({
      status: 'completed', output: JSON.stringify({ summary: 'FORGED RESULT', files_created: ['evil.sh'] }), completed_at: new Date().toISOString(),
    }));
    // The forged end went out while the sub-task still ran.
    expect(await redis.hget(keys.result(child), 'status')).toBe('in_progress');

    const hash = await network.waitFor(parent, 40_000);
    expect(hash['status']).toBe('completed');
    const output = JSON.parse(hash['output']!) as { summary: string; files_created: string[] };
    expect(output.summary).toContain('genuine slow answer');
    expect(output.summary).not.toContain('FORGED');
    expect(output.files_created).not.toContain('evil.sh');
    expect(await redis.hget(keys.result(child), 'status')).toBe('completed');
  });

  it('refuses dan send --id with an id already used, naming its status, and leaves the first result as it was', async () => {
    const first = await dan(['send', 'devops', 'first', '--type', 'echo', '--id', 'reused-send-1', '--wait']);
    expect(first.code).toBe(0);
    const before = await network.redis.hgetall(network.keys.result('reused-send-1'));
    expect(before['status']).toBe('completed');

    const again = await dan(['send', 'devops', 'second', '--type', 'echo', '--id', 'reused-send-1']);
    expect(again.code).toBe(2);
    expect(again.stderr + again.stdout).toMatch(/task id reused-send-1 is already used \(status completed\): choose another id/);
    expect(await network.redis.hgetall(network.keys.result('reused-send-1'))).toEqual(before);
  });

  it('dead-letters a raw push that reuses an ended id with the reason, and leaves the first result as it was [audit #24]', async () => {
    const { keys } = network;
    const first = await dan(['send', 'devops', 'first raw', '--type', 'echo', '--id', 'reused-raw-1', '--wait']);
    expect(first.code).toBe(0);
    const before = await network.redis.hgetall(keys.result('reused-raw-1'));

    const raw = JSON.stringify({ task_id: 'reused-raw-1', type: 'echo', payload: { description: 'second raw' } });
    cli('LPUSH', keys.pending('devops'), raw);
    cli('PUBLISH', keys.notifications('devops'), raw);
    const entry = await until('the reuse to be dead-lettered', async () => (await deadEntries('devops')).find((e) => e['raw'] === raw));
    expect(entry['reason']).toMatch(/^task id already used \(status completed\)/);
    expect(await network.redis.hgetall(keys.result('reused-raw-1'))).toEqual(before);
  });

  it('runs one of two raw tasks pushed together with one fresh id, dead-letters the other, and leaves nothing in tasks:active [audit #26]', async () => {
    const { keys } = network;
    const raws = ['first copy', 'second copy'].map((description) => JSON.stringify({ task_id: 'dup-live-1', type: 'echo', payload: { description } }));
    cli('LPUSH', keys.pending('devops'), ...raws);
    cli('HSET', keys.result('dup-live-1'), 'task_id', 'dup-live-1', 'status', 'pending');
    cli('PUBLISH', keys.notifications('devops'), raws[0]!);
    const hash = await network.waitFor('dup-live-1');
    expect(hash['status']).toBe('completed');
    const entry = await until('the second copy to be dead-lettered', async () => (await deadEntries('devops')).find((e) => raws.includes(String(e['raw']))));
    expect(entry['reason']).toMatch(/^task id already used \(status (running|completed)\)/);
    // The copy that ran is the one not dead-lettered, and it ran once.
    const ran = raws.find((r) => r !== entry['raw'])!;
    expect(hash['output']).toContain(JSON.parse(ran).payload.description);
    expect(hash['attempts']).toBe('1');
    expect(cli('LLEN', keys.active('devops')).trim()).toBe('0');
  });
});
