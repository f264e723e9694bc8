import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DomainDefinition, WorkerDefinition } from '../../lib/agents/agent-definitions.js';
import { ScriptedLlmClient } from '../../lib/llm/scripted-llm-client.js';
import { FailureCode } from '../../lib/protocol/failure.js';
import { parseTask } from '../../lib/protocol/task.js';
import type { ClaimedTask } from '../../lib/redis/task-queue.js';
import type { TaskContext, TaskHandler } from '../../lib/runtime/task-consumer.js';
import { TaskFailedError } from '../../lib/runtime/task-consumer.js';
import { UnsandboxedRunner } from '../../lib/sandbox/unsandboxed-runner.js';
import { parseReview, reviewStep } from '../../src/domain/review-step.js';
import { createVerifiedHandler } from '../../src/domain/verified-handler.js';
import { workChanges } from '../../lib/workspace/work-changes.js';

let dir: string;
beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'dan-review-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const worker = (name: string, role: WorkerDefinition['role']): WorkerDefinition => ({
  name, description: name, tools: ['Read'], model: 'inherit', keywords: [], after: [], isDefault: false, role, prompt: `You are ${name}.`, file: `${name}.md`,
});
const reviewer = worker('reviewer', 'reviewer');
const domain: DomainDefinition = {
  name: 'backend', description: 'b', keywords: [], after: [], fallback: false, container: {}, prompt: 'b', file: 'domain.md',
  workers: [worker('api', 'coder'), reviewer],
};

function context(): TaskContext {
  const outcome = parseTask(JSON.stringify({ task_id: 't-1', type: 'task_assignment', payload: { description: 'add a sum function' } }));
  if (outcome.kind !== 'ok') throw new Error(`bad fixture: ${outcome.reason}`);
  const claimed: ClaimedTask = { taskId: 't-1', raw: '', attempt: 1, token: 'x', priority: 'normal', domain: 'backend' };
  return { task: outcome.task, claimed, signal: new AbortController().signal, deadline: Date.now() + 60_000, log: async () => undefined };
}

/** Coders of our own handler interface: each round writes sum.js, with the header the review asks for from round 2 on. */
function coders() {
  const contexts: Record<string, unknown>[] = [];
  const handler: TaskHandler = async ({ task }) => {
    contexts.push(task.context);
    writeFileSync(path.join(dir, 'sum.js'), `${contexts.length > 1 ? '// sum\n' : ''}module.exports = (a, b) => a + b;\n`);
    return { summary: `round ${contexts.length}`, files_created: ['sum.js'], files_modified: [] };
  };
  return { handler, contexts };
}

const requestChanges = JSON.stringify({ verdict: 'request_changes', comments: [{ file: 'sum.js', line: 1, text: 'add a header comment' }] });
const approve = JSON.stringify({ verdict: 'approve', comments: [] });

function handler(client: ScriptedLlmClient, rounds = 3) {
  const c = coders();
  const h = createVerifiedHandler({
    workers: c.handler, domainChecks: [], rounds,
    place: () => ({ sandbox: new UnsandboxedRunner('off'), cwd: dir, timeoutMs: 30_000, maxOutputBytes: 1024 }),
    after: [reviewStep({ reviewer, domain, llm: async () => client, model: 'm', maxTokens: 1000, workspace: () => dir })],
  });
  return { handler: h, contexts: c.contexts };
}

describe('parseReview', () => {
  it('reads an approval and a request with comments tied to files and lines', () => {
    expect(parseReview(approve)).toEqual({ ok: true, review: { verdict: 'approve', comments: [] } });
    expect(parseReview(`Here it is:\n\`\`\`json\n${requestChanges}\n\`\`\``)).toEqual({
      ok: true, review: { verdict: 'request_changes', comments: [{ file: 'sum.js', line: 1, text: 'add a header comment' }] },
    });
  });

  it.each([
    ['text that is not JSON', 'Looks good to me!', /no JSON object/],
    ['a verdict it does not know', '{"verdict": "maybe", "comments": []}', /"verdict" must be "approve" or "request_changes"/],
    ['a request that says nothing to change', '{"verdict": "request_changes", "comments": []}', /needs at least one comment/],
    ['a comment without its file', '{"verdict": "request_changes", "comments": [{"text": "x"}]}', /needs "file"/],
    ['a line that is no line number', '{"verdict": "approve", "comments": [{"file": "a", "line": 0, "text": "x"}]}', /"line" must be 1 or more/],
  ])('refuses %s, saying why', (_name, text, problem) => {
    const parsed = parseReview(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).toMatch(problem);
  });
});

describe('a reviewer in the rounds of createVerifiedHandler', () => {
  it("sends the reviewer's requested changes to the coders' next round, and completes once it approves", async () => {
    const client = new ScriptedLlmClient({ responses: [{ text: requestChanges }, { text: approve }] });
    const h = handler(client);
    const output = await h.handler(context());
    expect(h.contexts).toHaveLength(2);
    expect(h.contexts[0]?.['review_comments']).toBeUndefined();
    expect(h.contexts[1]?.['review_comments']).toEqual([{ file: 'sum.js', line: 1, text: 'add a header comment' }]);
    expect(output).toMatchObject({ rounds: 2, review: { verdict: 'approve', round: 2, reviewer: 'reviewer' } });
    expect((output['reviews'] as unknown[]).map((r) => (r as { verdict: string }).verdict)).toEqual(['request_changes', 'approve']);
    // The reviewer read the files the coders reported, with line numbers, and the round.
    const asked = JSON.stringify(client.calls[0]?.messages);
    expect(asked).toContain('Round: 1');
    expect(asked).toContain('1: module.exports');
  });

  it('fails changes_requested when the reviewer still asks for changes after the last round', async () => {
    const client = new ScriptedLlmClient({ responses: [{ text: requestChanges }, { text: requestChanges }] });
    const h = handler(client, 2);
    const error = await h.handler(context()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect((error as TaskFailedError).code).toBe(FailureCode.changesRequested);
    expect((error as TaskFailedError).message).toMatch(/still requested changes after round 2: sum\.js:1 add a header comment/);
    expect((error as TaskFailedError).output).toMatchObject({ rounds: 2, review: { verdict: 'request_changes', round: 2 } });
  });

  it('fails review_invalid at once on an answer that is not JSON, without another round', async () => {
    const client = new ScriptedLlmClient({ responses: [{ text: 'Looks fine.' }] });
    const h = handler(client);
    const error = await h.handler(context()).catch((e: unknown) => e);
    expect((error as TaskFailedError).code).toBe(FailureCode.reviewInvalid);
    expect((error as TaskFailedError).message).toMatch(/reviewer 'reviewer' gave no usable answer in round 1 .*no JSON object/);
    expect(h.contexts).toHaveLength(1);
  });
});

describe("the local model server's default reviewer", () => {
  it('requests a change on the first changed file in round 1 and approves in round 2, so the demo shows a round of review', async () => {
    const client = new ScriptedLlmClient();
    const h = handler(client);
    const output = await h.handler(context());
    expect(output['reviews']).toEqual([
      expect.objectContaining({ round: 1, verdict: 'request_changes', comments: [expect.objectContaining({ file: 'sum.js', line: 1 })] }),
      expect.objectContaining({ round: 2, verdict: 'approve' }),
    ]);
  });
});

describe("the reviewer's tokens", () => {
  it("count in the task's usage with the workers' (which spend none here)", async () => {
    const reply = (text: string) => ({ text });
    const client = new ScriptedLlmClient({ responses: [reply(requestChanges), reply(approve)] });
    const output = await handler(client).handler(context());
    const usage = output['usage'] as { input_tokens: number; output_tokens: number };
    expect(usage.input_tokens).toBeGreaterThan(0);
    expect(usage.output_tokens).toBeGreaterThan(0);
  });
});

describe('workChanges without a git workspace', () => {
  it('lists the reported files by line, and never reads one outside the workspace', async () => {
    writeFileSync(path.join(dir, 'sum.js'), 'a\nb\n');
    const outside = path.join(path.dirname(dir), `${path.basename(dir)}-secret.txt`);
    writeFileSync(outside, 'secret\n');
    try {
      symlinkSync(outside, path.join(dir, 'link.txt'));
      const text = await workChanges(dir, ['sum.js', `../${path.basename(outside)}`, 'link.txt', 'gone.js'], false);
      expect(text).toContain('--- sum.js\n1: a\n2: b');
      expect(text).not.toContain('1: secret');
      expect(text).toContain('--- link.txt (gone or outside the workspace)');
      expect(text).toContain('(gone or outside the workspace)');
    } finally {
      rmSync(outside, { force: true });
    }
  });
});
