import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import { parseRules } from '../../lib/llm/local-server/rules.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { startTestNetwork } from '../support/network.js';

// The audit's hostile model (ATKA01 ... ATKA10), replayed with its own rules through one network: each
// task must end with a result a person can act on, and the domain must go on serving the next task.
// The rules are the audit's (its security-audit-rules.json), word for word; only the network's
// timings are short.
const AUDIT_RULES: unknown[] = [
  { name: 'ATKA01-loop', when: { system: '^\\s*Worker:', anyText: '^Task: ATKA01\\b' }, reply: { tool_use: [{ name: 'Bash', input: { command: 'echo again' } }] } },
  { name: 'ATKA02', when: { system: '^\\s*Worker:', anyText: '^Task: ATKA02\\b', hasToolResult: false }, reply: { tool_use: [{ name: 'Bash', input: { command: 'sleep 100000' } }] } },
  { name: 'ATKA03', when: { system: '^\\s*Worker:', anyText: '^Task: ATKA03\\b', hasToolResult: false }, reply: { tool_use: [{ name: 'Bash', input: { command: `yes ${'A'.repeat(55)} | head -c 2000000000` } }] } },
  { name: 'ATKA07', when: { system: '^\\s*Worker:', anyText: '^Task: ATKA07\\b', hasToolResult: false }, reply: { tool_use: [{ name: 'Bash', input: { command: "head -c 30000000 /dev/zero | tr '\\0' 'a' > big.txt; ls -l big.txt" } }, { name: 'Read', input: { file_path: 'big.txt' } }] } },
  { name: 'ATKA08-500', when: { system: '^\\s*Worker:', anyText: '^Task: ATKA08\\b' }, reply: { error: { status: 500, type: 'api_error', message: 'always failing' } } },
  { name: 'ATKA10', when: { system: '^\\s*Worker:', anyText: '^Task: ATKA10\\b', hasToolResult: false }, reply: { tool_use: [{ name: 'Read', input: { file_path: 123 } }, { name: 'Bash', input: {} }, { name: 'NoSuchTool', input: {} }, { name: 'Write', input: { file_path: 'x.txt', content: { nested: [1, 2, 3] } } }] } },
];
// 1 s rather than the default 120 s: the bound is the same setting, only shorter.
const BASH_TIMEOUT_MS = 1_000;

let network: TestNetwork;

/** The tool results the model was given while working on the task whose description starts with `marker`. */
function toolResultsSent(marker: string): { content: string; is_error?: boolean }[] {
  const bodies = network.model.requests.map((r) => r.body as { messages?: { content: unknown }[] });
  const mine = bodies.filter((b) => JSON.stringify(b.messages?.[0]?.content ?? '').includes(`Task: ${marker}`));
  const last = mine.at(-1)?.messages ?? [];
  return last.flatMap((m) => (Array.isArray(m.content) ? m.content : []))
    .filter((block): block is { type: string; content: string; is_error?: boolean } => (block as { type?: string }).type === 'tool_result');
}

async function run(description: string, timeoutSeconds?: number): Promise<Record<string, string>> {
  const { taskId } = await submitTask(network.redis, network.keys, { domain: 'backend', description, ...(timeoutSeconds ? { timeoutSeconds } : {}) });
  return network.waitFor(taskId, 90_000);
}

/** After each hostile task, the same domain must still complete an ordinary one. */
async function expectDomainServes(): Promise<void> {
  expect((await run('api endpoint for health check'))['status']).toBe('completed');
}

beforeAll(async () => {
  network = await startTestNetwork({
    rules: [
      ...parseRules([
        ...AUDIT_RULES,
        // EVILHANG: the model server takes the request and does not answer (the longest delay a rule allows).
        { name: 'EVILHANG', when: { system: '^\\s*Worker:', anyText: '^Task: EVILHANG\\b' }, reply: { text: 'late', delay_ms: 600_000 } },
      ], 'audit').rules,
      ...defaultRules(),
    ],
    env: { DAN_BASH_TIMEOUT_MS: String(BASH_TIMEOUT_MS), DAN_RETRY_BASE_MS: '50', DAN_RETRY_MAX_MS: '200', DAN_MAX_INSTANCES_PER_DOMAIN: '1' },
  });
}, 60_000);
afterAll(async () => { await network?.stop(); }, 60_000);

describe('a hostile model through a network (audit ATKA01-ATKA10)', () => {
  it('[audit #71] a model that calls Bash forever is stopped at DAN_MAX_TURNS, and the domain goes on', async () => {
    const result = await run('ATKA01 api endpoint');
    expect(result['status']).toBe('failed');
    expect(result['error']).toContain('after 20 turns');
    expect(JSON.parse(result['output'] ?? '{}')).toMatchObject({ failure: { code: 'max_turns', retryable: false } });
    await expectDomainServes();
  });

  it('[audit #72] Bash sleep 100000 is killed at DAN_BASH_TIMEOUT_MS, the model is told, and the task completes', async () => {
    const result = await run('ATKA02 api endpoint');
    expect(result['status']).toBe('completed');
    const [sleep] = toolResultsSent('ATKA02');
    expect(sleep?.is_error).toBe(true);
    expect(sleep?.content).toMatch(/^command timed out after 1000 ms and was killed; make it faster/);
  });

  it('[audit #73] endless Bash output (yes | head -c 2000000000) reaches the model cut, and the task completes', async () => {
    const result = await run('ATKA03 api endpoint');
    expect(result['status']).toBe('completed');
    // Stopped by DAN_BASH_TIMEOUT_MS (1 s here) or at its end: either way only the cut reaches the model.
    const [output] = toolResultsSent('ATKA03');
    expect(output?.content).toMatch(/\[output truncated: \d+ of \d+ bytes left out; redirect to a file and use Grep or Read to see more\]/);
    expect(Buffer.byteLength(output?.content ?? '')).toBeLessThan(100_000);
    await expectDomainServes();
  });

  it('[audit #74] a model that answers 500 forever fails the task after its attempts, without saying it is retried', async () => {
    const result = await run('ATKA08 api endpoint');
    expect(result['status']).toBe('failed');
    expect(result['attempts']).toBe('3');
    expect(result['error']).toMatch(/^gave up after 3 attempts; the last ended: llm_server_error: .*500 api_error: always failing/);
    expect(result['error']).not.toContain('the call is retried');
    expect(JSON.parse(result['output'] ?? '{}')).toMatchObject({ failure: { code: 'llm_server_error' } });
    await expectDomainServes();
  });

  it('[audit #76] a model server that never answers fails the task at its timeout, while another task completes', async () => {
    const hanging = run('EVILHANG api endpoint', 2);
    await expectDomainServes();
    const result = await hanging;
    expect(result['status']).toBe('failed');
    expect(result['error']).toContain('timed out after 2 s');
    await expectDomainServes();
  });

  it('[audit #80] a 30 MB file written with Bash is refused by Read with the way to read it, and the task completes', async () => {
    const result = await run('ATKA07 api endpoint');
    expect(result['status']).toBe('completed');
    const [, read] = toolResultsSent('ATKA07');
    expect(read).toMatchObject({ is_error: true });
    expect(read?.content).toMatch(/^big\.txt is .* too large to Read; use Grep, or Bash with sed -n or head/);
  });

  it('[audit #81] tool calls with wrong inputs and an unknown tool come back as tool errors, and the task completes', async () => {
    const result = await run('ATKA10 api endpoint');
    expect(result['status']).toBe('completed');
    const results = toolResultsSent('ATKA10');
    expect(results.map((r) => r.is_error)).toEqual([true, true, true, true]);
    expect(results[0]?.content).toMatch(/^invalid input for Read: file_path/);
    expect(results[1]?.content).toMatch(/^invalid input for Bash: command/);
    expect(results[2]?.content).toContain('NoSuchTool');
    expect(results[3]?.content).toMatch(/^invalid input for Write: content/);
  });
});
