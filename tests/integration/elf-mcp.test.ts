import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';
import { listeningSockets, processTree } from '../security/host-kit.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
let network: TestNetwork;
let client: Client;
let serverLog = '';
const protocolErrors: Error[] = [];

/** `dan elf mcp` as a child process, connected through the SDK's own client. */
async function connect(env: Record<string, string>, args: string[] = []): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [bin, 'elf', 'mcp', ...args],
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', REDIS_URL: network.config.redisUrl, DAN_KEY_PREFIX: network.config.keyPrefix, ...env },
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (chunk: Buffer) => { serverLog += chunk.toString(); });
  const mcp = new Client({ name: 'elf-mcp-test', version: '1.0.0' });
  // Anything on the server's stdout that is not a protocol message shows up here.
  mcp.onerror = (error) => protocolErrors.push(error);
  await mcp.connect(transport);
  return mcp;
}

const call = async (name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> => (await client.callTool({ name, arguments: args })) as CallToolResult;
const textOf = (result: CallToolResult): string => result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
const jsonOf = <T>(result: CallToolResult): T => {
  expect(result.isError ?? false, textOf(result)).toBe(false);
  return JSON.parse(textOf(result)) as T;
};

beforeAll(async () => {
  network = await startTestNetwork();
  await until('a live ELF agent', async () => {
    for (const id of await network.redis.smembers(network.keys.agentsOfDomain('elf'))) {
      if (await network.redis.exists(network.keys.heartbeat(id))) return true;
    }
    return false;
  });
  client = await connect({ DAN_ELF_CLIENT: 'mcp-test' });
});
afterAll(async () => {
  await client?.close();
  await network?.stop();
});

describe('dan elf mcp', () => {
  it('lists the ten ELF tools', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      'elf_contradict_heuristic', 'elf_query', 'elf_record_heuristic', 'elf_record_outcome', 'elf_record_plan', 'elf_record_postmortem',
      'elf_search', 'elf_stats', 'elf_validate_heuristic', 'elf_violate_heuristic',
    ]);
    const record = tools.find((t) => t.name === 'elf_record_heuristic');
    expect(record?.inputSchema.required).toEqual(['domain', 'rule']);
  });

  it('records a heuristic, finds it, validates it by the formula, and counts it', async () => {
    const rule = 'Return 404 with a JSON error body when a user id is unknown';
    // A model cannot pass its lesson off as a person's: it is a candidate, which no model sees until a person approves it.
    const recorded = jsonOf<{ id: number; created: boolean; heuristic: { source: string } }>(await call('elf_record_heuristic', { domain: 'backend', rule, source: 'person' }));
    expect(recorded).toMatchObject({ created: true, heuristic: { source: 'model', state: 'candidate' } });
    expect(jsonOf<{ heuristics: unknown[] }>(await call('elf_search', { text: 'unknown user id' })).heuristics).toEqual([]);
    // A person approves it with the CLI (asynchronously: ELF runs in this test's process).
    const approved = await runProcess(process.execPath, [bin, 'elf', 'approve', String(recorded.id), '--client', 'mcp-test'], { env: cliEnv(network), timeoutMs: 60_000 });
    expect(approved.stdout, approved.stderr).toContain(`approved heuristic ${recorded.id} (backend, from model:unknown-task/claude-code)`);

    const found = jsonOf<{ heuristics: { heuristic: { id: number; rule: string } }[] }>(await call('elf_search', { text: 'unknown user id' }));
    expect(found.heuristics.map((h) => h.heuristic)).toContainEqual(expect.objectContaining({ id: recorded.id, rule }));
    const asked = jsonOf<{ heuristics: { heuristic: { id: number } }[] }>(await call('elf_query', { text: 'JSON error body', domain: 'backend' }));
    expect(asked.heuristics.map((h) => h.heuristic.id)).toContain(recorded.id);

    const validated = jsonOf<{ applied: boolean; heuristic: { confidence: number; validations: number } }>(await call('elf_validate_heuristic', { id: recorded.id, task_id: 'mcp-task-1' }));
    expect(validated.applied).toBe(true);
    expect(validated.heuristic.confidence).toBeCloseTo(0.5 + 0.1 * (1 - 0.5), 12);
    const violated = jsonOf<{ heuristic: { confidence: number } }>(await call('elf_violate_heuristic', { id: recorded.id, task_id: 'mcp-task-2' }));
    expect(violated.heuristic.confidence).toBeCloseTo(0.55 - 0.1 * 0.55, 12);

    const stats = jsonOf<{ client_id: string; heuristics: number }>(await call('elf_stats'));
    // DAN_ELF_CLIENT chose the memory.
    expect(stats).toMatchObject({ client_id: 'mcp-test', heuristics: 1 });
  });

  it('records outcomes, plans and postmortems', async () => {
    expect(jsonOf(await call('elf_record_outcome', { task_id: 'mcp-out-1', domain: 'backend', status: 'failed', error: 'ECONNREFUSED on the users table', files_modified: ['src/db/users.ts'] }))).toEqual({ recorded: true });
    expect(jsonOf<{ id: number }>(await call('elf_record_plan', { domain: 'backend', description: 'Add users', plan: '1. migration 2. endpoint' })).id).toBeGreaterThan(0);
    const postmortem = jsonOf<{ heuristicIds: number[] }>(await call('elf_record_postmortem', {
      task_id: 'mcp-out-1', domain: 'backend', error: 'ECONNREFUSED', analysis: 'The database was not started', proposed_rules: ['Start the database before running migrations'],
    }));
    expect(postmortem.heuristicIds).toHaveLength(1);
    const stats = jsonOf<{ outcomes: { byStatus: Record<string, number> }; plans: number; postmortems: number; heuristics: number }>(await call('elf_stats'));
    expect(stats).toMatchObject({ outcomes: { byStatus: { failed: 1 } }, plans: 1, postmortems: 1, heuristics: 2 });
  });

  it('answers refused input with isError and ELF\'s message', async () => {
    const unknown = await call('elf_validate_heuristic', { id: 987654 });
    expect(unknown.isError).toBe(true);
    expect(textOf(unknown)).toContain('no heuristic with id 987654');
    const empty = await call('elf_record_heuristic', { domain: 'backend', rule: '  ' });
    expect(empty.isError).toBe(true);
    expect(textOf(empty)).toContain('rule must not be empty');
    const badDomain = await call('elf_record_outcome', { task_id: 'x', domain: 'Not A Domain', status: 'completed' });
    expect(badDomain.isError).toBe(true);
    expect(textOf(badDomain)).toContain('domain must be a domain name');
  });

  it('says the ELF memory is not running when nothing answers', async () => {
    const lonely = await connect({ DAN_KEY_PREFIX: uniquePrefix('noelf') }, ['--timeout', '500']);
    try {
      const { tools } = await lonely.listTools();
      expect(tools).toHaveLength(10);
      const result = (await lonely.callTool({ name: 'elf_stats', arguments: {} })) as CallToolResult;
      expect(result.isError).toBe(true);
      expect(textOf(result)).toBe("the ELF memory is not running (no answer to 'stats' within 500 ms): 'dan up' starts it unless DAN_ELF=off");
    } finally {
      await lonely.close();
    }
  });

  it('[audit #61] speaks MCP over stdio only: its process listens on no socket', async () => {
    const { tools } = await client.listTools();
    expect(tools.length).toBeGreaterThan(0);
    const servers = processTree(process.pid).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(`${bin} elf mcp`);
      } catch {
        return false;
      }
    });
    expect(servers.length).toBeGreaterThan(0);
    expect(listeningSockets(servers)).toEqual([]);
  });

  it('writes nothing but protocol messages to stdout', () => {
    expect(protocolErrors, serverLog).toEqual([]);
  });
});
