import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAgentCatalog } from '../../lib/agents/agent-catalog.js';
import { packageRoot } from '../../lib/config.js';
import { FarmStore } from '../../lib/farm/farm-store.js';
import { silentLogger } from '../../lib/logger.js';
import { emptyUsage } from '../../lib/protocol/result.js';
import { Keys } from '../../lib/redis/keys.js';
import { loadConfig } from '../../lib/config.js';
import { ScriptedLlmClient } from '../../lib/llm/scripted-llm-client.js';
import type { LlmRequest, LlmResponse } from '../../lib/llm/types.js';
import { FarmAgent } from '../../src/farm/farm-agent.js';
import { SdkWorkerRuntime } from '../../src/worker/sdk-worker-runtime.js';
import type { EditGuard, WorkerJob, WorkerResult, WorkerRuntime } from '../../src/worker/worker-runtime.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';

const dirs: string[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A runtime of our own interface: the first session reports a full context and waits to be stopped; the next one fixes the file. */
class FillingRuntime implements WorkerRuntime {
  readonly name = 'filling';
  readonly prompts: string[] = [];

  async run(job: WorkerJob): Promise<WorkerResult> {
    this.prompts.push(job.prompt ?? '');
    if (this.prompts.length === 1) {
      job.onEvent?.({ kind: 'turn', summary: 'turn', usage: { input_tokens: 10, output_tokens: 5 }, contextTokens: 190_000 });
      if (!job.signal.aborted) await new Promise((resolve) => job.signal.addEventListener('abort', resolve, { once: true }));
      throw new Error('the worker was stopped');
    }
    const refusal = await job.editGuard?.check(path.join(job.workspace!, 'a.js'), 'before');
    if (refusal) throw new Error(refusal);
    writeFileSync(path.join(job.workspace!, 'a.js'), 'export const a = 1;\n');
    return { summary: 'fixed', files_created: [], files_modified: ['a.js'], usage: { ...emptyUsage(), input_tokens: 100, output_tokens: 20 }, turns: 2, model: 'm' };
  }
}

/** A git repository with one file carrying a lint marker, and the farm state of one chunk on it. */
async function fixture(): Promise<{ repo: string; store: FarmStore; git: (...args: string[]) => Buffer }> {
  const prefix = uniquePrefix('farm-agent');
  const { redis, cleanup } = await connectTestRedis(prefix);
  cleanups.push(cleanup);
  const repo = mkdtempSync(path.join(os.tmpdir(), 'dan-farm-agent-'));
  dirs.push(repo);
  writeFileSync(path.join(repo, 'a.js'), 'export const a = 1; // TODO-LINT: x\n');
  writeFileSync(path.join(repo, 'check.mjs'), "import { readFileSync } from 'node:fs';\nif (readFileSync('a.js', 'utf8').includes('TODO' + '-LINT')) { console.log('a.js:1: marker'); process.exit(1); }\n");
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
  git('init', '-q', '-b', 'agent');
  git('add', '-A');
  git('commit', '-q', '-m', 'start');
  const store = new FarmStore(redis, new Keys(prefix), 'farm-1');
  await store.queueChunks([{ id: '1', files: ['a.js'], problems: [{ file: 'a.js', line: 1, message: 'marker' }] }]);
  return { repo, store, git };
}

function farmAgent(repo: string, store: FarmStore, runtime: WorkerRuntime): FarmAgent {
  const guard: EditGuard = { check: async () => undefined, hook: { command: 'true', env: {} } };
  const domain = loadAgentCatalog(path.join(packageRoot(), 'agents')).domain('farm')!;
  return new FarmAgent({
    name: 'agent-1', farmId: 'farm-1', store, worktree: repo, branch: 'agent', runtime, guard,
    task: { taskId: 'farm-1', type: 'task_assignment', source: 'test', destination: 'farm', description: 'Fix it', requirements: [], context: {}, priority: 'normal', timeoutSeconds: 60, metadata: {} } as never,
    domain, worker: domain.workers[0]!,
    policy: { stuckMs: 60_000, restartBaseMs: 10, restartMaxMs: 20, maxRestarts: 2, contextTokens: 160_000 },
    leaseMs: 5_000, lockMs: 5_000, chunkCount: 1, problemsCommand: 'node check.mjs', problemsTimeoutMs: 30_000, maxChunkAttempts: 2,
    memory: undefined, signal: new AbortController().signal, log: async () => undefined, logger: silentLogger,
  });
}

describe('a farm agent', () => {
  it('renews a session whose context is nearly full with a fresh one and what is left of its chunk, then commits', async () => {
    const { repo, store, git } = await fixture();
    const runtime = new FillingRuntime();
    const report = await farmAgent(repo, store, runtime).run();
    expect(report).toMatchObject({ chunks_done: ['1'], renewals: 1, restarts: 0, files_changed: ['a.js'], tokens_in: 110, tokens_out: 25 });
    expect(runtime.prompts).toHaveLength(2);
    expect(runtime.prompts[1]).toContain('An earlier session on this chunk ran out of context');
    expect(runtime.prompts[1]).toContain('- a.js:1: marker');
    expect(git('log', '--format=%s', '-1').toString()).toContain('farm farm-1: chunk 1 by agent-1');
    expect(await store.agent('agent-1')).toMatchObject({ renewals: '1', status: 'finished', tokens_in: '110' });
    expect(await store.lockedFiles('agent-1')).toEqual([]);
  }, 60_000);

  it('renews an SDK-runtime session too: every model call reports the context it saw', async () => {
    const { repo, store, git } = await fixture();
    const reply = (index: number, content: LlmResponse['content'], input: number) => (request: LlmRequest): LlmResponse => ({
      id: `msg_${index}`, model: request.model, role: 'assistant', content,
      stop_reason: content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn',
      usage: { input_tokens: 40, output_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: input - 40 },
    });
    const llm = new ScriptedLlmClient({
      responses: [
        // The first session reads the file with a context past the limit: it is stopped and renewed.
        reply(1, [{ type: 'tool_use', id: 'toolu_1', name: 'Read', input: { file_path: 'a.js' } }], 170_000),
        reply(2, [{ type: 'tool_use', id: 'toolu_2', name: 'Edit', input: { file_path: 'a.js', old_string: ' // TODO-LINT: x', new_string: '' } }], 1_000),
        reply(3, [{ type: 'text', text: '{"summary": "removed the marker", "files_modified": ["a.js"]}' }], 1_200),
      ],
    });
    const runtime = new SdkWorkerRuntime({ llm, config: loadConfig({ DAN_WORKSPACE: repo }), logger: silentLogger });
    const report = await farmAgent(repo, store, runtime).run();
    expect(report).toMatchObject({ chunks_done: ['1'], renewals: 1, restarts: 0, files_changed: ['a.js'] });
    expect(report.tokens_in).toBe(170_000 + 1_000 + 1_200);
    expect(llm.remaining).toBe(0);
    expect(JSON.stringify(llm.calls[1]?.messages[0])).toContain('An earlier session on this chunk ran out of context');
    expect(git('show', 'HEAD:a.js').toString()).toBe('export const a = 1;\n');
  }, 60_000);
});
