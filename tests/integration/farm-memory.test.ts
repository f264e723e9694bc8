import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import type { Heuristic } from '../../lib/elf/elf-types.js';
import { parseRules } from '../../lib/llm/local-server/rules.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';
import { farmRepo, farmRules } from './farm-fixture.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
const lesson = 'The lint check of this app counts TODO-LINT markers in src';
let network: TestNetwork | undefined;
const cleanup: string[] = [];
afterEach(async () => {
  await network?.stop();
  network = undefined;
  for (const dir of cleanup.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('a farm agent and the memory', () => {
  it('records a lesson mid-task, as a worker does: a candidate with the farm task and the agent as its origin', async () => {
    const repo = farmRepo();
    const farmDir = mkdtempSync(path.join(os.tmpdir(), 'dan-farm-wt-'));
    cleanup.push(repo, farmDir);
    const rules = farmRules(parseRules([
      { name: 'farm-lesson', when: { system: '^Domain: farm$', hasToolResult: false, anyText: '^Task: FARMLESSON\\b' }, reply: { tool_use: [{ name: 'elf_record_heuristic', input: { rule: lesson } }] } },
      { name: 'farm-lesson-done', when: { system: '^Domain: farm$', hasToolResult: true, lastUser: 'candidate heuristic' }, reply: { text: '{"summary": "Noted how the lint check works.", "files_modified": []}' } },
    ], 'test').rules);
    // ELF on (the farm tests turn it off): the farm domain's memory gives its agents the tool.
    network = await startTestNetwork({ rules, env: { DAN_FARM_DIR: farmDir, DAN_FARM_ROOTS: os.tmpdir(), DAN_DOMAIN_IDLE_MS: '60000' } });
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, {
      domain: 'farm', description: 'FARMLESSON fix the lint problem', timeoutSeconds: 600,
      context: { path: repo, agent_count: 1, runtime: 'sdk', problems: ['src/cart.js:1: TODO-LINT marker'] },
    });
    const hash = await network.waitFor(taskId, 300_000);
    expect(hash['status'], hash['error']).toBe('completed');

    const net = network;
    const candidates = await until('the lesson in memory', async () => {
      const run = await runProcess(process.execPath, [bin, 'elf', 'heuristics', '--candidates', '--domain', 'farm', '--json'], { env: cliEnv(net), timeoutMs: 60_000 });
      const list = run.code === 0 ? (JSON.parse(run.stdout) as Heuristic[]) : [];
      return list.some((h) => h.rule === lesson) ? list : undefined;
    });
    expect(candidates.find((h) => h.rule === lesson)).toMatchObject({ domain: 'farm', source: 'model', state: 'candidate', origin: `model:${taskId}/agent-1` });
  }, 360_000);
});
