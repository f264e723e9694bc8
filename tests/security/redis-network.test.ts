import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import { TASK_ID_RULE_TEXT } from '../../lib/protocol/task.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { testRedisUrl } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';

/**
 * The audit's section 2 ("Redis protocol abuse") through a whole network: raw pushes with `redis-cli`
 * as its push.sh made them (LPUSH, then the client's HSET status pending), and keys deleted while a
 * task runs. One network for the file; each test uses its own task ids.
 */
const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
let network: TestNetwork;

const dan = (args: string[]) => runProcess(process.execPath, [bin, ...args], { env: cliEnv(network), timeoutMs: 60_000 });
const cli = (...args: string[]) => execFileSync('redis-cli', ['-u', testRedisUrl(), ...args], { encoding: 'utf8' });
/** The audit's push.sh: LPUSH the raw text, then HSET its result pending as protocol.md says. */
function push(domain: string, id: string, task: Record<string, unknown>): string {
  const raw = JSON.stringify({ task_id: id, ...task });
  cli('LPUSH', network.keys.pending(domain), raw);
  cli('HSET', network.keys.result(id), 'task_id', id, 'status', 'pending');
  return raw;
}

beforeAll(async () => {
  network = await startTestNetwork({
    env: { DAN_ELF: 'on' },
    rules: [
      // The audit's ATKT01: a backend worker that answers after a while, so its task is seen running.
      { name: 'ATKT01', when: { system: '^\\s*Worker:', anyText: '^Task: ATKT01\\b' }, reply: { text: '{"summary": "genuine slow answer"}', delay_ms: 3_000 } },
      // The audit's model answering 500 to every call (inf-retry).
      { name: 'INFRETRY', when: { system: '^\\s*Worker:', anyText: '^Task: INFRETRY\\b' }, reply: { error: { status: 500, type: 'api_error', message: 'internal error' } } },
      ...defaultRules(),
    ],
  });
});
afterAll(async () => { await network.stop(); });

describe('raw pushes through the network', () => {
  it('refuses dan send --id prepoison:logs, then runs prepoison, and dan status and dan cancel answer for it [audit #23]', async () => {
    const poisoned = await dan(['send', 'backend', 'first', '--type', 'echo', '--id', 'prepoison:logs', '--wait']);
    expect(poisoned.code).toBe(2);
    expect(poisoned.stderr).toContain(TASK_ID_RULE_TEXT);
    const victim = await dan(['send', 'backend', 'victim', '--type', 'echo', '--id', 'prepoison', '--wait']);
    expect(victim.code, victim.stderr).toBe(0);
    const status = await dan(['status', 'prepoison', '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'completed' });
    const cancel = await dan(['cancel', 'prepoison']);
    expect(cancel.code).toBe(1);
    expect(cancel.stdout + cancel.stderr).toContain('prepoison: already completed; nothing to cancel');
    expect(cancel.stderr).not.toMatch(/ReplyError|WRONGTYPE|\n\s+at /);
  });

  it('fails timeout_seconds 1e-9 saying the timeout is too short, not that a parent deadline passed [audit #35]', async () => {
    push('backend', 'tiny-timeout', { type: 'echo', payload: { description: 'x' }, metadata: { timeout_seconds: 1e-9 } });
    const hash = await network.waitFor('tiny-timeout');
    expect(hash['status']).toBe('failed');
    expect(hash['error']).toMatch(/timeout_seconds/);
    expect(hash['error']).not.toContain("parent's");
  });

  it('fails timeouts of 3,000,000 s and 1e308 at once, naming the 7-day limit, instead of timing out [audit #36]', async () => {
    for (const [id, seconds] of [['huge-timeout-1', 3_000_000], ['huge-timeout-2', 1e308]] as const) {
      push('backend', id, { payload: { description: 'ATKT01 api endpoint' }, metadata: { timeout_seconds: seconds } });
      const hash = await network.waitFor(id);
      expect(hash['status']).toBe('failed');
      expect(hash['error']).toContain('metadata.timeout_seconds must be at most 604800 seconds (7 days)');
      expect(hash['error']).not.toMatch(/timed out/);
    }
  });

  it('fails max_attempts 1000000000 at once with the cap, before a failing model could be retried [audit #37]', async () => {
    push('backend', 'inf-retry', { payload: { description: 'INFRETRY api endpoint' }, metadata: { max_attempts: 1_000_000_000 } });
    const hash = await network.waitFor('inf-retry');
    expect(hash).toMatchObject({ status: 'failed', attempts: '1' });
    expect(hash['error']).toContain('metadata.max_attempts must be at most 20');
  });

  it('ignores destination "../../x" and source "main" inside the task JSON, and completes [audit #38]', async () => {
    push('backend', 'dest-ignored', { type: 'echo', destination: '../../x', source: 'main', payload: { description: 'where am I' } });
    const hash = await network.waitFor('dest-ignored');
    expect(hash).toMatchObject({ status: 'completed', domain: 'backend' });
    expect(existsSync(path.resolve(network.workspace, '../../x'))).toBe(false);
  });

  it('dead-letters pushes to nosuch, ../../x, * and MAIN naming the known domains; dead-letter list --domain * takes * literally [audit #39]', async () => {
    const { keys, redis } = network;
    const domains = ['nosuch', '../../x', '*', 'MAIN'];
    domains.forEach((domain, i) => push(domain, `unknown-domain-${i}`, { type: 'echo', payload: { description: `to ${domain}` } }));
    for (const [i, domain] of domains.entries()) {
      const hash = await network.waitFor(`unknown-domain-${i}`);
      expect(hash['status']).toBe('failed');
      expect(hash['error']).toMatch(new RegExp(`^dead-lettered: unknown domain '${domain.replace(/[.*]/g, '\\$&')}'; known domains: backend, `));
      expect(await redis.llen(keys.pending(domain))).toBe(0);
    }
    const listed = await dan(['dead-letter', 'list', '--domain', '*', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const entries = (JSON.parse(listed.stdout) as { entries: { domain: string; task_id: string }[] }).entries;
    expect(entries.map((e) => [e.domain, e.task_id])).toEqual([['*', 'unknown-domain-2']]);
    const purged = await dan(['dead-letter', 'purge', '--all', '--domain', '*', '--yes', '--json']);
    expect(JSON.parse(purged.stdout)).toMatchObject({ deleted: 1 });
    expect(await redis.llen(keys.dead('nosuch'))).toBe(1);
    expect(await redis.llen(keys.dead('MAIN'))).toBe(1);
  });

  it('serves an echo pushed raw onto tasks:pending:elf [audit #40]', async () => {
    push('elf', 'raw-elf-echo', { type: 'echo', payload: { description: 'hello elf', message: 'served' } });
    const hash = await network.waitFor('raw-elf-echo');
    expect(hash).toMatchObject({ status: 'completed', domain: 'elf' });
  });

  it('is not fooled by a forged PUBLISH results:<id> while dan send --wait watches a direct task [audit #41]', async () => {
    const waiting = dan(['send', 'backend', 'ATKT01 api endpoint', '--id', 'forged-direct', '--wait']);
    await until('the task to run', async () => (await network.redis.hget(network.keys.result('forged-direct'), 'status')) === 'in_progress', 40_000);
    cli('PUBLISH', network.keys.resultChannel('forged-direct'), JSON.stringify({
      status: 'completed', output: JSON.stringify({ summary: 'FORGED RESULT', files_created: ['evil.sh'] }), completed_at: new Date().toISOString(),
    }));
    const run = await waiting;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('genuine slow answer');
    expect(run.stdout).not.toContain('FORGED');
    expect(await network.redis.hget(network.keys.result('forged-direct'), 'output')).toContain('genuine slow answer');
  });
});

describe('keys deleted while a backend task runs', () => {
  /** Sends a slow task, runs `tamper` once it runs, and returns its result and the agent that started it. */
  async function tamperMidTask(id: string, tamper: (agentId: string) => void): Promise<{ hash: Record<string, string>; agentId: string }> {
    const { redis, keys } = network;
    push('backend', id, { payload: { description: 'ATKT01 api endpoint' } });
    const agentId = await until('the task to run', async () => {
      const [status, agent] = await redis.hmget(keys.result(id), 'status', 'agent_id');
      return status === 'in_progress' && agent ? agent : undefined;
    }, 40_000);
    tamper(agentId);
    return { hash: await network.waitFor(id), agentId };
  }
  async function expectRanOnce(id: string, hash: Record<string, string>, agentId: string): Promise<void> {
    expect(hash).toMatchObject({ status: 'completed', attempts: '1', agent_id: agentId });
    expect(hash['output']).toContain('genuine slow answer');
    const lines = await network.redis.lrange(network.keys.logs(id), 0, -1);
    expect(lines.filter((l) => l.includes('claimed task'))).toHaveLength(1);
    expect(cli('LLEN', network.keys.active('backend')).trim()).toBe('0');
  }

  it('completes once when results:<id> is deleted mid-task, and the hash is written again [audit #44]', async () => {
    const { hash, agentId } = await tamperMidTask('mid-del-result', () => cli('DEL', network.keys.result('mid-del-result')));
    expect(hash).toMatchObject({ status: 'completed', task_id: 'mid-del-result' });
    expect(agentId).toMatch(/^backend-/);
  });

  it('completes once when dan:task:<id> is deleted mid-task, leaving nothing in tasks:active [audit #45]', async () => {
    const { hash, agentId } = await tamperMidTask('mid-del-record', () => cli('DEL', network.keys.task('mid-del-record')));
    await expectRanOnce('mid-del-record', hash, agentId);
  });

  it('completes once when the lease is removed mid-task [audit #46]', async () => {
    const { hash, agentId } = await tamperMidTask('mid-zrem-lease', () => cli('ZREM', network.keys.leases('backend'), 'mid-zrem-lease'));
    await expectRanOnce('mid-zrem-lease', hash, agentId);
  });

  it('does not sweep a live agent whose heartbeat key was deleted mid-task, nor run its task twice [audit #47]', async () => {
    const { hash, agentId } = await tamperMidTask('mid-del-heartbeat', (agent) => cli('DEL', network.keys.heartbeat(agent)));
    await expectRanOnce('mid-del-heartbeat', hash, agentId);
    expect(network.events.filter((e) => e.type === 'agent_swept' && e.agentId === agentId)).toEqual([]);
    expect(await network.redis.exists(network.keys.heartbeat(agentId))).toBe(1);
  });
});
