import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import type { Heuristic, HeuristicUpdateResult, Hotspot } from '../../lib/elf/elf-types.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
let network: TestNetwork;

const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => cliEnv(network, extra);

const dan = (args: string[], extra: Record<string, string> = {}) => runProcess(process.execPath, [bin, ...args], { env: env(extra), timeoutMs: 60_000 });
const json = async <T>(args: string[]): Promise<T> => {
  const run = await dan([...args, '--json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as T;
};

/** The main orchestrator keeps ELF running; it serves once `agents:domains:elf` has a live member. */
async function elfUp(net: TestNetwork): Promise<void> {
  await until('a live ELF agent', async () => {
    for (const id of await net.redis.smembers(net.keys.agentsOfDomain('elf'))) {
      if (await net.redis.exists(net.keys.heartbeat(id))) return true;
    }
    return false;
  });
}

const rule = 'Hash every stored password with bcrypt before it reaches the database';
let ruleId: number;

beforeAll(async () => {
  network = await startTestNetwork();
  await elfUp(network);
});
afterAll(async () => { await network.stop(); });

describe('dan elf', () => {
  it('records a heuristic, prints its id, and says so when the rule is already known', async () => {
    const first = await dan(['elf', 'record', 'frontend', ...rule.split(' '), '--context', 'signup forms']);
    expect(first.code, first.stderr).toBe(0);
    const match = /^recorded heuristic (\d+) \(frontend, confidence 0\.50\)$/m.exec(first.stdout);
    expect(match, first.stdout).not.toBeNull();
    ruleId = Number(match![1]);
    const again = await dan(['elf', 'record', 'frontend', rule.toUpperCase()]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`already known: heuristic ${ruleId}`);
  });

  it('lists it in the heuristics table and in --json', async () => {
    const table = await dan(['elf', 'heuristics']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/ID\s+DOMAIN\s+CONF\s+VAL\/VIO\s+G\s+RULE/);
    expect(table.stdout).toMatch(new RegExp(`^\\s*${ruleId}\\s+frontend\\s+0\\.50\\s+0/0\\s+${rule}$`, 'm'));
    const list = await json<Heuristic[]>(['elf', 'heuristics', '--domain', 'frontend']);
    expect(list).toEqual([expect.objectContaining({ id: ruleId, domain: 'frontend', rule, context: 'signup forms', source: 'person', confidence: 0.5 })]);
    expect(await json<Heuristic[]>(['elf', 'golden'])).toEqual([]);
  });

  it('finds it by full-text search', async () => {
    const run = await dan(['elf', 'search', 'bcrypt', 'password']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('rules:');
    expect(run.stdout).toContain(`${ruleId}  ${rule} (frontend, confidence 0.50, score `);
  });

  it('validates by the formula, credits a task once, and violates', async () => {
    const validated = await json<HeuristicUpdateResult>(['elf', 'validate', String(ruleId), '--task', 'cli-task-1']);
    expect(validated.applied).toBe(true);
    expect(validated.heuristic.confidence).toBeCloseTo(0.5 + 0.1 * (1 - 0.5), 12);
    expect(validated.heuristic.validations).toBe(1);

    const twice = await dan(['elf', 'validate', String(ruleId), '--task', 'cli-task-1']);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/not applied: .*already credited/);

    const violated = await dan(['elf', 'violate', String(ruleId), '--task', 'cli-task-2']);
    expect(violated.code, violated.stderr).toBe(0);
    expect(violated.stdout).toMatch(new RegExp(`^heuristic ${ruleId}: confidence 0\\.(49|50) \\(validations 1, violations 1\\)$`, 'm'));
    const [after] = await json<Heuristic[]>(['elf', 'heuristics', '--domain', 'frontend']);
    expect(after!.confidence).toBeCloseTo(0.55 - 0.1 * 0.55, 12);
  });

  it('exits 2 with ELF\'s message for an unknown id and for refused input', async () => {
    const unknown = await dan(['elf', 'validate', '987654']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no heuristic with id 987654');
    const empty = await dan(['elf', 'record', 'backend', ' ']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('rule must not be empty');
    const confidence = await dan(['elf', 'record', 'backend', 'x', '--confidence', '1.5']);
    expect(confidence.code).toBe(2);
    expect(confidence.stderr).toContain('confidence must be a number from 0 to 1');
  });

  it('keeps clients apart: --client other sees none of default\'s memory', async () => {
    expect(await json<Heuristic[]>(['elf', 'heuristics', '--all', '--client', 'other'])).toEqual([]);
    const search = await json<{ heuristics: unknown[] }>(['elf', 'search', 'bcrypt', '--client', 'other']);
    expect(search.heuristics).toEqual([]);
    const stats = await json<{ client_id: string; heuristics: number }>(['elf', 'stats', '--client', 'other']);
    expect(stats).toMatchObject({ client_id: 'other', heuristics: 0 });
    const listed = await dan(['elf', 'heuristics', '--client', 'other']);
    expect(listed.stdout).toContain('no heuristics yet');
  });

  it('lists the files of a completed worker task as hotspots and counts its outcome', async () => {
    const { taskId } = await submitTask(network.redis, network.keys, { domain: 'backend', description: 'Create a health endpoint' });
    const hash = await network.waitFor(taskId);
    expect(hash['status']).toBe('completed');
    const written = (JSON.parse(hash['output'] ?? '{}') as { files_created?: string[] }).files_created ?? [];
    expect(written.length).toBeGreaterThan(0);
    const hot = await until('the task\'s files as hotspots', async () => {
      const list = await json<Hotspot[]>(['elf', 'hotspots', '--domain', 'backend']);
      return list.some((h) => written.includes(h.file)) ? list : undefined;
    });
    expect(hot.find((h) => written.includes(h.file))).toMatchObject({ recentFailures: 0 });
    const table = await dan(['elf', 'hotspots']);
    expect(table.stdout).toMatch(/FILE\s+STRENGTH\s+DEPOSITS\s+RECENT FAILURES/);
    expect(table.stdout).toContain(written[0]);

    const stats = await json<{ client_id: string; heuristics: number; outcomes: { total: number; byStatus: Record<string, number> }; trails: number; databaseBytes: number }>(['elf', 'stats']);
    expect(stats.client_id).toBe('default');
    expect(stats.heuristics).toBe(1);
    expect(stats.outcomes.byStatus['completed']).toBeGreaterThanOrEqual(1);
    expect(stats.trails).toBeGreaterThanOrEqual(written.length);
    expect(stats.databaseBytes).toBeGreaterThan(0);
    const human = await dan(['elf', 'stats']);
    expect(human.stdout).toMatch(/^heuristics\s+1 \(golden 0, dormant 0\)$/m);
  });

  it('answers dan send elf --wait from memory, with the recorded rule in its summary', async () => {
    const run = await dan(['send', 'elf', 'what do we know about bcrypt?', '--wait', '-t', '60']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/completed \(elf\)/);
    expect(run.stdout).toContain(rule);
    // The model (here the local one) summarised what memory found.
    expect(run.stdout).toMatch(/Memory holds \d+ relevant item/);
  });

  it('says that ELF is not running, and how to start it, with exit 1', async () => {
    const run = await dan(['elf', 'stats', '--timeout', '500'], { DAN_KEY_PREFIX: uniquePrefix('noelf') });
    expect(run.code).toBe(1);
    // 'within 500 ms': the CLI waited --timeout, not its 5 s default.
    expect(run.stderr.trim()).toBe("dan: the ELF memory is not running (no answer to 'stats' within 500 ms): 'dan up' starts it unless DAN_ELF=off");
  });

  it('exits 3 when Redis is unreachable and 2 for a bad --timeout', async () => {
    const unreachable = await dan(['elf', 'stats'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toContain('REDIS_URL is not reachable (redis://127.0.0.1:1)');
    const badTimeout = await dan(['elf', 'stats', '--timeout', '0']);
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toContain('--timeout must be a positive number of milliseconds');
  });

  it('has --help on every subcommand', async () => {
    for (const command of ['stats', 'heuristics', 'golden', 'search', 'hotspots', 'injections', 'record', 'validate', 'violate', 'mcp']) {
      const run = await dan(['elf', command, '--help']);
      expect(run.code, command).toBe(0);
      expect(run.stdout).toContain(`dan elf ${command}`);
    }
  });

  it('shows the exact memory text a task\'s workers were given', async () => {
    const rule = 'Health endpoints answer with the service version in a JSON body';
    expect((await dan(['elf', 'record', 'backend', rule, '--client', 'injected'])).code).toBe(0);
    const { taskId } = await submitTask(network.redis, network.keys, { domain: 'backend', description: 'Create a health endpoint', extraMetadata: { client_id: 'injected' } });
    expect((await network.waitFor(taskId))['status']).toBe('completed');
    const list = await json<Array<{ worker: string; text: string; heuristicIds: number[] }>>(['elf', 'injections', taskId, '--client', 'injected']);
    expect(list.length).toBeGreaterThan(0);
    expect(list[0]!.text).toContain(rule);
    const human = await dan(['elf', 'injections', taskId, '--client', 'injected']);
    expect(human.stdout).toContain(`${list[0]!.worker} (backend`);
    expect(human.stdout).toContain(rule);
    const none = await dan(['elf', 'injections', taskId]);
    expect(none.stdout).toContain(`no memory was injected into task ${taskId}`);
  });
});
