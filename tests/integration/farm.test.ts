import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FarmStore } from '../../lib/farm/farm-store.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { startTestNetwork } from '../support/network.js';
import { farmRepo, farmRules, problemsIn } from './farm-fixture.js';

let network: TestNetwork | undefined;
const cleanup: string[] = [];
afterEach(async () => {
  await network?.stop();
  network = undefined;
  for (const dir of cleanup.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function farmEnv(extra: Record<string, string> = {}): Record<string, string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-farm-wt-'));
  cleanup.push(dir);
  // DAN_FARM_ROOTS: the fixture repositories live in the temporary folder, outside the network's workspace.
  return { DAN_FARM_DIR: dir, DAN_FARM_ROOTS: os.tmpdir(), DAN_ELF: 'off', DAN_FARM_RESTART_BASE_MS: '500', DAN_FARM_RESTART_MAX_MS: '2000', DAN_DOMAIN_IDLE_MS: '60000', ...extra };
}

/**
 * Starts a network, its farm agents on the restricted Redis user of `dan up`'s private Redis, sends
 * one farm task on a fresh copy of the fixture repository, waits for it, and checks that it completed. Returns what the test goes on to inspect.
 */
async function runFarmTask(description: string, context: Record<string, unknown>) {
  const repo = farmRepo();
  cleanup.push(repo);
  const net = await startTestNetwork({ rules: farmRules(), env: farmEnv(), restrictedAgents: true });
  network = net;
  const { redis, keys } = net;
  const { taskId } = await submitTask(redis, keys, { domain: 'farm', description, context: { path: repo, ...context }, timeoutSeconds: 600 });
  const hash = await net.waitFor(taskId, 300_000);
  expect(hash['status'], hash['error']).toBe('completed');
  return { net, repo, redis, keys, taskId, output: JSON.parse(hash['output']!) };
}

describe('the agent farm with the Claude Code CLI', () => {
  it('three agents fix the seeded lint problems, merge into one branch, and the re-run shows zero', async () => {
    const { net, repo, redis, keys, taskId, output } = await runFarmTask('Fix every lint problem', { agent_count: 3, problems_command: 'node check.mjs' });
    expect(output.problems_before).toBe(8);
    expect(output.problems_after).toBe(0);
    expect(output.chunks).toMatchObject({ total: 6, done: 6, given_up: 0 });
    expect(Object.keys(output.agents)).toEqual(['agent-1', 'agent-2', 'agent-3']);
    expect(output.conflicts).toEqual([]);
    expect(output.files_modified).toEqual(['src/cart.js', 'src/index.js', 'src/order.js', 'src/user.js', 'src/util/dates.js', 'src/util/format.js']);
    expect(output.pushed).toBe(false);

    // The result branch is in the user's repository and really has no problems left; the user's branch is untouched.
    expect(problemsIn(repo, output.result_branch)).toEqual([]);
    expect(problemsIn(repo)).toHaveLength(8);
    const branches = execFileSync('git', ['branch', '--format=%(refname:short)'], { cwd: repo, encoding: 'utf8' });
    for (const b of output.branches) expect(branches).toContain(b);

    // Several agents did chunks, every chunk's files were locked and released, and tokens were counted.
    const store = new FarmStore(redis, keys, taskId);
    const state = await store.state();
    expect(state).toMatchObject({ status: 'completed', problems_before: '8', problems_after: '0', chunks_done: '6' });
    const agents = await Promise.all(['agent-1', 'agent-2', 'agent-3'].map((a) => store.agent(a)));
    expect(agents.filter((a) => Number(a['chunks_done'] ?? 0) > 0).length).toBeGreaterThan(1);
    expect(agents.every((a) => Number(a['tokens_in']) > 0)).toBe(true);
    const events = await store.events();
    expect(events.filter((e) => e.type === 'lock').length).toBe(6);
    expect(events.filter((e) => e.type === 'unlock').length).toBe(6);
    expect(events.filter((e) => e.type === 'edit').length).toBe(6);
    // The agents were offered file tools but no shell and no web tools.
    const offered = new Set(net.model.requests
      .filter((r) => JSON.stringify((r.body as { system?: unknown }).system ?? '').includes('Domain: farm'))
      .flatMap((r) => ((r.body as { tools?: Array<{ name: string }> }).tools ?? []).map((t) => t.name)));
    expect(offered.has('Edit') && offered.has('Read')).toBe(true);
    for (const tool of ['Bash', 'WebFetch', 'WebSearch']) expect(offered.has(tool)).toBe(false);
    const log = (await redis.lrange(keys.logs(taskId), 0, -1)).join('\n');
    expect(log).toContain('8 problem(s) in 6 file(s)');
    expect(log).toContain('problems 8 -> 0');
  }, 360_000);
});

describe('the agent farm with the SDK runtime', () => {
  it('passes the same scenario: the seeded problems are fixed by three agents and the re-run shows zero', async () => {
    const { repo, redis, keys, taskId, output } = await runFarmTask('Fix every lint problem', { agent_count: 3, problems_command: 'node check.mjs', runtime: 'sdk' });
    expect(output).toMatchObject({ problems_before: 8, problems_after: 0, chunks: { total: 6, done: 6, given_up: 0 }, conflicts: [] });
    expect(problemsIn(repo, output.result_branch)).toEqual([]);
    const store = new FarmStore(redis, keys, taskId);
    expect((await store.state())['runtime']).toBe('sdk');
    const events = await store.events();
    // The SDK runtime's writes went through the same lock check as the CLI's hooks.
    expect(events.filter((e) => e.type === 'edit').map((e) => e.file).sort()).toEqual(['src/cart.js', 'src/index.js', 'src/order.js', 'src/user.js', 'src/util/dates.js', 'src/util/format.js']);
    expect(output.usage.input_tokens).toBeGreaterThan(0);
  }, 360_000);
});

describe('the task-less farm', () => {
  it('has the model split the task into parts, one chunk each, and merges what the agents did', async () => {
    const { repo, redis, keys, taskId, output } = await runFarmTask('Document every exported function', { agent_count: 2 });
    expect(output.chunks).toMatchObject({ total: 2, done: 2 });
    expect(output.problems_after).toBeNull();
    expect(output.files_modified).toEqual(['src/cart.js', 'src/user.js']);
    const shown = execFileSync('git', ['show', `${output.result_branch}:src/user.js`], { cwd: repo, encoding: 'utf8' });
    expect(shown).toContain('/** Documented by the farm. */');
    const log = (await redis.lrange(keys.logs(taskId), 0, -1)).join('\n');
    expect(log).toContain('the model split the task into 2 part(s)');
  }, 360_000);
});
