import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { startTestNetwork } from '../support/network.js';

let network: TestNetwork | undefined;
afterEach(async () => {
  await network?.stop();
  network = undefined;
});

describe('workers run by the Claude Code CLI (DAN_WORKER_RUNTIME=claude-code)', () => {
  it('complete a task through the local model, report the files they wrote, and have the ELF memory as an MCP server', async () => {
    network = await startTestNetwork({ env: { DAN_WORKER_RUNTIME: 'claude-code' } });
    const { redis, keys, model } = network;
    const { taskId } = await submitTask(redis, keys, { domain: 'backend', description: 'Create a health endpoint' });
    const hash = await network.waitFor(taskId, 90_000);
    expect(hash['status'], hash['error']).toBe('completed');
    const output = JSON.parse(hash['output']!);
    expect(output.files_created).toContain('src/api/health-endpoint.ts');
    expect(existsSync(path.join(network.workspace, 'src/api/health-endpoint.ts'))).toBe(true);

    // The CLI connected to `dan elf mcp` and offered its tools to the model.
    const log = (await redis.lrange(keys.logs(taskId), 0, -1)).join('\n');
    expect(log).toContain('claude code: MCP elf connected');
    // Each tool call is timed from its tool_use to its tool_result (the task's timeline).
    expect(log).toMatch(/^\[[^\]]+\] backend-[0-9a-f]{8}: backend-[0-9a-f]{8}-[a-z-]+-\d+ tool Write took \d+ ms \(ok\)$/m);
    // And each model call, from the CLI's report of what it sends to the answer's last event: the first two in order.
    expect(log).toMatch(/^\[[^\]]+\] backend-[0-9a-f]{8}: backend-[0-9a-f]{8}-[a-z-]+-\d+ model call 1 took \d+ ms$/m);
    expect(log).toMatch(/^\[[^\]]+\] backend-[0-9a-f]{8}: backend-[0-9a-f]{8}-[a-z-]+-\d+ model call 2 took \d+ ms$/m);
    const offered = model.requests.flatMap((r) => ((r.body as { tools?: Array<{ name: string }> }).tools ?? []).map((t) => t.name));
    expect(offered).toEqual(expect.arrayContaining(['mcp__elf__elf_record_heuristic', 'mcp__elf__elf_search', 'mcp__elf__elf_query']));
  }, 120_000);
});
