import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FarmStore } from '../../lib/farm/farm-store.js';
import type { Rule } from '../../lib/llm/local-server/rules.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';
import { farmRepo, farmRules, problemsIn } from './farm-fixture.js';

let network: TestNetwork | undefined;
const cleanup: string[] = [];
afterEach(async () => {
  await network?.stop();
  network = undefined;
  for (const dir of cleanup.splice(0)) rmSync(dir, { recursive: true, force: true });
});

// The first model call of one agent answers late: long enough to kill it meanwhile, or to be stuck.
function slowFirstCall(agent: string, delayMs: number): Rule {
  return {
    name: `slow-${agent}`, times: 1,
    when: { system: '^Domain: farm$', hasToolResult: false, anyText: `You are ${agent} of farm[\\s\\S]*^Chunk files: (?<target>\\S+)` },
    reply: { delay_ms: delayMs, tool_use: [{ name: 'Read', input: { file_path: '{{cwd}}/{{target}}' } }] },
  };
}

describe('farm health', () => {
  it('restarts an agent killed mid-chunk and one that is stuck, with backoff, and both chunks are finished', async () => {
    const repo = farmRepo();
    const farmDir = mkdtempSync(path.join(os.tmpdir(), 'dan-farm-wt-'));
    cleanup.push(repo, farmDir);
    network = await startTestNetwork({
      // Both first answers outlast the stuck limit: agent-2 is restarted as stuck, and agent-1 is killed
      // well before (the test reads dan farm status first, which takes seconds on a loaded machine).
      rules: farmRules([slowFirstCall('agent-1', 60_000), slowFirstCall('agent-2', 60_000)]),
      env: { DAN_FARM_DIR: farmDir, DAN_FARM_ROOTS: os.tmpdir(), DAN_ELF: 'off', DAN_FARM_RESTART_BASE_MS: '300', DAN_FARM_RESTART_MAX_MS: '1000', DAN_FARM_STUCK_MS: '20000', DAN_FARM_MAX_RESTARTS: '3' },
    });
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, {
      domain: 'farm', description: 'Fix every lint problem',
      context: { path: repo, agent_count: 2, problems_command: 'node check.mjs' }, timeoutSeconds: 600,
    });
    const store = new FarmStore(redis, keys, taskId);

    // agent-1 waits on its first answer: kill its Claude Code process.
    const pid = await until('agent-1 running the CLI', async () => {
      const agent = await store.agent('agent-1');
      return agent['status'] === 'working' && agent['pid'] ? Number(agent['pid']) : undefined;
    }, 60_000);
    const chunk = (await store.agent('agent-1'))['chunk'];
    // While it works, dan farm status shows its chunk and the files it holds.
    const files = JSON.parse((await redis.hget(store.keys.chunk(chunk!), 'files'))!) as string[];
    expect(await store.lockedFiles('agent-1')).toEqual(files);
    const status = await runProcess(process.execPath, ['dist/bundle/cli.mjs', 'farm', 'status', taskId], { env: cliEnv(network) });
    expect(status.stdout).toContain(`farm ${taskId}: running`);
    expect(status.stdout).toMatch(new RegExp(`agent-1 +working +chunk ${chunk} +locked \\[${files[0]!.replace(/[./]/g, '\\$&')}\\]`));
    process.kill(pid, 'SIGKILL');

    const hash = await network.waitFor(taskId, 300_000);
    expect(hash['status'], hash['error']).toBe('completed');
    const output = JSON.parse(hash['output']!);
    expect(output).toMatchObject({ problems_before: 8, problems_after: 0, chunks: { total: 6, done: 6, given_up: 0 } });
    expect(problemsIn(repo, output.result_branch)).toEqual([]);

    const events = await store.events();
    const restarts = events.filter((e) => e.type === 'restart');
    expect(restarts).toEqual(expect.arrayContaining([
      expect.objectContaining({ agent: 'agent-1', reason: 'crashed', chunk, delay_ms: '300' }),
      expect.objectContaining({ agent: 'agent-2', reason: 'stuck', delay_ms: '300' }),
    ]));
    // The killed agent's chunk was finished by the same agent after its restart.
    const done = events.find((e) => e.type === 'chunk_done' && e.chunk === chunk);
    expect(done?.agent).toBe('agent-1');
    expect(Number((await store.agent('agent-1'))['restarts'])).toBeGreaterThanOrEqual(1);
    expect(output.agents['agent-2'].restarts).toBeGreaterThanOrEqual(1);
  }, 360_000);

  it('hands a chunk back after the restart cap, and gives it up when a second agent fails on it too', async () => {
    const repo = farmRepo();
    const farmDir = mkdtempSync(path.join(os.tmpdir(), 'dan-farm-wt-'));
    cleanup.push(repo, farmDir);
    // Every session on src/user.js dies at once: the model answers with an error the CLI cannot get past.
    const broken: Rule = {
      name: 'broken-user-js', when: { system: '^Domain: farm$', anyText: '^Chunk files: src/user\\.js' },
      reply: { error: { status: 400, type: 'invalid_request_error', message: 'this chunk always fails' } },
    };
    network = await startTestNetwork({
      rules: farmRules([broken]),
      env: { DAN_FARM_DIR: farmDir, DAN_FARM_ROOTS: os.tmpdir(), DAN_ELF: 'off', DAN_FARM_RESTART_BASE_MS: '100', DAN_FARM_RESTART_MAX_MS: '200', DAN_FARM_MAX_RESTARTS: '1' },
    });
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, {
      domain: 'farm', description: 'Fix every lint problem',
      context: { path: repo, agent_count: 2, problems_command: 'node check.mjs' }, timeoutSeconds: 600,
    });
    const hash = await network.waitFor(taskId, 300_000);
    expect(hash['status']).toBe('failed');
    expect(hash['error']).toContain('1 chunk(s) given up');
    const output = JSON.parse(hash['output']!);
    expect(output.chunks).toMatchObject({ total: 6, given_up: 1, done: 5 });
    expect(output.problems_after).toBe(1);
    const store = new FarmStore(redis, keys, taskId);
    const backs = (await store.events()).filter((e) => e.type === 'give_back');
    // Both agents tried it, each restarted once (the cap), and each handed it back: never restarted forever.
    expect(new Set(backs.map((e) => e.agent)).size).toBe(2);
    expect(backs.every((e) => e.reason === 'crashed after 1 restart(s)')).toBe(true);
  }, 360_000);
});
