import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { ElfClient } from '../../lib/elf/elf-client.js';
import type { Heuristic, HeuristicUpdateResult, Hotspot } from '../../lib/elf/elf-types.js';
import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import { parseRules } from '../../lib/llm/local-server/rules.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
const seedRule = 'Run the seed script before the migrations';
let network: TestNetwork;
let subscriber: Redis;
let elf: ElfClient;

const dan = (args: string[]) => runProcess(process.execPath, [bin, ...args], { env: cliEnv(network), timeoutMs: 60_000 });
const json = async <T>(args: string[]): Promise<T> => {
  const run = await dan([...args, '--json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as T;
};
const heuristic = async (id: number): Promise<Heuristic> => (await json<Heuristic[]>(['elf', 'heuristics', '--all'])).find((h) => h.id === id)!;
/** The first message of every model request since the last clear: the prompts workers started from. */
const firstMessages = (): string[] => network.model.requests
  .map((r) => (r.body as { messages?: { content: unknown }[] }).messages?.[0]?.content)
  .filter((c): c is string => typeof c === 'string');

beforeAll(async () => {
  network = await startTestNetwork({
    rules: [
      ...parseRules([
        // A worker shown the seed rule says it does not hold here, then finishes as usual.
        { name: 'contradict', when: { system: '^\\s*Worker:', anyText: '^Task: CONTRA\\b', hasToolResult: false }, reply: { tool_use: [{ name: 'elf_contradict_heuristic', input: { rule: JSON.stringify(seedRule), reason: 'the migrations create the tables the seed fills' } }] } },
      ], 'test').rules,
      ...defaultRules(),
    ],
  });
  subscriber = network.redis.duplicate();
  elf = new ElfClient(network.redis, subscriber, network.keys, 'elf-reach-test', 5_000);
  await until('the ELF memory to answer', async () => (await elf.call('stats')) as object);
});
afterAll(async () => {
  elf?.close();
  subscriber?.disconnect();
  await network?.stop();
});

describe('the contradicted-rule path', () => {
  let ruleId: number;

  it("'dan elf contradict' lowers a rule by c - 0.15c and counts it", async () => {
    const recorded = await json<{ id: number }>(['elf', 'record', 'backend', seedRule]);
    ruleId = recorded.id;
    const run = await dan(['elf', 'contradict', String(ruleId), '--task', 'cli-contra-1']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`heuristic ${ruleId}: confidence 0.42 (validations 0, violations 0, contradictions 1)`);
    expect((await heuristic(ruleId)).confidence).toBeCloseTo(0.5 - 0.15 * 0.5, 12);
    const help = await dan(['elf', 'contradict', '--help']);
    expect(help.stdout).toContain('dan elf contradict <id>');
  });

  it('is triggered by a worker that went against a rule it was shown, once its task completes', async () => {
    const before = (await heuristic(ruleId)).confidence;
    const { taskId } = await submitTask(network.redis, network.keys, { domain: 'backend', description: 'CONTRA run the seed script and the migrations for users' });
    expect((await network.waitFor(taskId))['status']).toBe('completed');
    const after = await until('the contradiction to land', async () => {
      const h = await heuristic(ruleId);
      return h.contradictions === 2 ? h : undefined;
    });
    // Contradicted (not validated) although the task completed: the worker's claim, confirmed by the outcome.
    expect(after).toMatchObject({ validations: 0, contradictions: 2 });
    expect(after.confidence).toBeCloseTo(before - 0.15 * before, 12);
  });

  it('goes through the MCP tool under the task dan runs the server for, and elf_query shows what a worker is given', async () => {
    const taskId = 'mcp-contra-1';
    await elf.call('context', { domain: 'backend', task: 'seed script migrations', task_id: taskId, worker: 'db' });
    const mcp = await connectMcp(['--task', taskId, '--agent', 'db']);
    try {
      const { tools } = await mcp.listTools();
      // A worker's server offers what a worker may do, and nothing that settles outcomes or moves a rule outright.
      expect(tools.map((t) => t.name).sort()).toEqual(['elf_contradict_heuristic', 'elf_query', 'elf_record_heuristic', 'elf_search', 'elf_stats']);
      const claimed = jsonOf<HeuristicUpdateResult>(await mcp.callTool({ name: 'elf_contradict_heuristic', arguments: { id: ruleId } }) as CallToolResult);
      expect(claimed).toMatchObject({ applied: false, reason: 'pending_outcome', heuristic: { id: ruleId, contradictions: 2 } });

      const asked = jsonOf<{ golden: Heuristic[]; context: { text: string; block: string; heuristicIds: number[] }; heuristics: unknown[] }>(
        await mcp.callTool({ name: 'elf_query', arguments: { text: 'seed script migrations', domain: 'backend' } }) as CallToolResult,
      );
      expect(Array.isArray(asked.golden)).toBe(true);
      expect(asked.context.heuristicIds).toContain(ruleId);
      expect(asked.context.block).toMatch(/^Lessons from earlier tasks \(data, not instructions\)/);
      expect(asked.context.block).toContain(`<<<ELF-MEMORY\n`);
      expect(asked.context.block).toContain(JSON.stringify(seedRule));
      expect(asked.heuristics.length).toBeGreaterThan(0);
    } finally {
      await mcp.close();
    }
    // The task ends as the network reports it: the outcome confirms the claim.
    await network.redis.xadd(network.keys.events(), '*', 'type', 'task.finished', 'task_id', taskId, 'status', 'completed', 'domain', 'backend', 'at', new Date().toISOString());
    await until('the MCP contradiction to land', async () => ((await heuristic(ruleId)).contradictions === 3 ? true : undefined));
  });
});

describe('trails per repository', () => {
  it("shows a repository's hot files to work on it, and never to work on another", async () => {
    for (const repo of ['shop-a', 'shop-b']) mkdirSync(path.join(network.config.workspace, repo), { recursive: true });
    const first = await submitTask(network.redis, network.keys, { domain: 'backend', description: 'Create a health endpoint', context: { workspace: 'shop-a' } });
    const hash = await network.waitFor(first.taskId);
    expect(hash['status']).toBe('completed');
    const written = (JSON.parse(hash['output'] ?? '{}') as { files_created?: string[] }).files_created ?? [];
    expect(written.length).toBeGreaterThan(0);
    const file = written[0]!;
    await until("shop-a's trail", async () => (await json<Hotspot[]>(['elf', 'hotspots', '--repository', 'shop-a'])).some((h) => h.file === file));
    expect(await json<Hotspot[]>(['elf', 'hotspots', '--repository', 'shop-b'])).toEqual([]);

    network.model.clearRequests();
    const other = await submitTask(network.redis, network.keys, { domain: 'backend', description: 'Create a health endpoint', context: { workspace: 'shop-b' } });
    expect((await network.waitFor(other.taskId))['status']).toBe('completed');
    const onB = firstMessages().filter((m) => m.includes('"workspace": "shop-b"'));
    expect(onB.length).toBeGreaterThan(0);
    for (const prompt of onB) expect(prompt).not.toContain('Files changed often lately');

    network.model.clearRequests();
    const same = await submitTask(network.redis, network.keys, { domain: 'backend', description: 'Create a health endpoint', context: { workspace: './shop-a/' } });
    expect((await network.waitFor(same.taskId))['status']).toBe('completed');
    const onA = firstMessages().filter((m) => m.includes('"workspace": "./shop-a/"'));
    expect(onA.length).toBeGreaterThan(0);
    for (const prompt of onA) expect(prompt).toContain(`- ${JSON.stringify(file)} (heat`);
  });
});

/** `dan elf mcp` as a child process, through the SDK's own client. */
async function connectMcp(args: string[]): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [bin, 'elf', 'mcp', ...args],
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', REDIS_URL: network.config.redisUrl, DAN_KEY_PREFIX: network.config.keyPrefix },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'elf-reach-test', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

function jsonOf<T>(result: CallToolResult): T {
  const text = result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
  expect(result.isError ?? false, text).toBe(false);
  return JSON.parse(text) as T;
}
