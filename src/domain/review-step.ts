import { z } from 'zod';
import type { DomainDefinition, WorkerDefinition } from '../../lib/agents/agent-definitions.js';
import { parseModelJson } from '../../lib/agents/model-json.js';
import type { CheckRun } from '../../lib/checks/check-runner.js';
import type { LlmClient } from '../../lib/llm/llm-client.js';
import { addLlmUsage } from '../../lib/llm/tool-loop.js';
import { responseText } from '../../lib/llm/types.js';
import { addUsage, emptyUsage, type TokenUsage } from '../../lib/protocol/result.js';
import { FailureCode } from '../../lib/protocol/failure.js';
import type { Task } from '../../lib/protocol/task.js';
import { TaskFailedError } from '../../lib/runtime/task-consumer.js';
import { workChanges } from '../../lib/workspace/work-changes.js';
import type { RoundStep } from './verified-handler.js';

/** Marker the local model server's rules match on to answer a review. */
export const REVIEWER_MARKER = 'dan-reviewer';

const commentSchema = z.strictObject({
  file: z.string({ error: 'each comment needs "file", the path it is about' }).trim().min(1, { error: 'a comment\'s "file" is empty' }),
  line: z.number({ error: '"line" must be a line number' }).int().positive({ error: '"line" must be 1 or more' }).optional(),
  text: z.string({ error: 'each comment needs "text"' }).trim().min(1, { error: 'a comment\'s "text" is empty' }),
});

/** The one answer a reviewer may give. */
export const reviewAnswerSchema = z.strictObject({
  verdict: z.enum(['approve', 'request_changes'], { error: '"verdict" must be "approve" or "request_changes"' }),
  summary: z.string().trim().optional(),
  comments: z.array(commentSchema, { error: '"comments" must be a list of {"file", "line", "text"}' }).default([]),
}).refine((r) => r.verdict === 'approve' || r.comments.length > 0, { error: 'a "request_changes" answer needs at least one comment saying what to change' });

/** A reviewer's answer on one round's work. */
export type ReviewAnswer = z.infer<typeof reviewAnswerSchema>;
/** A review as the result records it. */
export type Review = ReviewAnswer & { round: number; reviewer: string };

/** Reads a reviewer's text: its JSON answer, or what is wrong with it. */
export function parseReview(text: string): { ok: true; review: ReviewAnswer } | { ok: false; problem: string } {
  const json = parseModelJson(text);
  if (!json.ok) return json;
  const parsed = reviewAnswerSchema.safeParse(json.value);
  if (!parsed.success) return { ok: false, problem: parsed.error.issues.map((i) => i.message).join('; ') };
  return { ok: true, review: parsed.data };
}

export interface ReviewStepDeps {
  reviewer: WorkerDefinition;
  domain: DomainDefinition;
  llm: () => Promise<LlmClient>;
  /** The model id the reviewer's alias resolves to. */
  model: string;
  maxTokens: number;
  /** The task's workspace when it works without a branch of its own. */
  workspace: (task: Task) => string;
}

/**
 * The domain's reviewer as a step of the task's rounds: it reads the round's changes, the task and
 * the checks' results, and approves or requests changes. A request is the next round's context
 * (`review`) for the coders; one still standing after the last round fails `changes_requested`.
 * An unusable answer fails the task `review_invalid` at once: another round would not mend it.
 */
export function reviewStep(deps: ReviewStepDeps): RoundStep {
  return {
    name: 'review',
    async run({ ctx, round, output }) {
      const { task } = ctx;
      // The earlier rounds' reviews come back in the output (the handler is shared by concurrent tasks).
      const reviews = Array.isArray(output['reviews']) ? [...(output['reviews'] as Review[])] : [];
      const files = [...strings(output['files_created']), ...strings(output['files_modified'])];
      const changes = await workChanges(ctx.workspace ?? deps.workspace(task), files, ctx.workspace !== undefined);
      const client = await deps.llm();
      const began = performance.now();
      const reply = await client.createMessage({
        model: deps.model, max_tokens: deps.maxTokens, temperature: 0,
        system: [{ type: 'text', text: reviewerSystem(deps.reviewer, deps.domain) }],
        messages: [{ role: 'user', content: reviewMessage(task, round, changes, (output['checks'] as CheckRun[] | undefined) ?? []) }],
        metadata: { user_id: `${REVIEWER_MARKER}:${deps.domain.name}` },
      }, { signal: ctx.signal });
      const usage = addLlmUsage(emptyUsage(), reply.usage);
      const parsed = parseReview(responseText(reply));
      if (!parsed.ok) {
        throw new TaskFailedError(
          `the reviewer '${deps.reviewer.name}' gave no usable answer in round ${round} (${parsed.problem}); fix its prompt in ${deps.reviewer.file}, or leave reviewer out of DAN_ROLES`,
          { ...output, reviews, usage: addUsage(addUsage(emptyUsage(), output['usage'] as Partial<TokenUsage> | undefined), usage) }, FailureCode.reviewInvalid,
        );
      }
      const review: Review = { ...parsed.review, round, reviewer: deps.reviewer.name };
      reviews.push(review);
      // Its time in the line (the timeline's review span): from the model call to the verdict.
      await ctx.log(`review of round ${round} (${Math.round(performance.now() - began)} ms): ${review.verdict}${review.comments.map((c) => `; ${where(c)} ${c.text}`).join('')}`);
      const fields = { review, reviews };
      if (review.verdict === 'approve') return { passed: true, fields, usage };
      const first = review.comments[0];
      return {
        passed: false, fields, usage, context: { review_comments: review.comments },
        failure: {
          code: FailureCode.changesRequested,
          message: `the reviewer '${deps.reviewer.name}' still requested changes after round ${round}: ${first ? `${where(first)} ${first.text}` : review.summary ?? ''}`,
        },
      };
    },
  };
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
const where = (c: { file: string; line?: number | undefined }): string => `${c.file}${c.line === undefined ? '' : `:${c.line}`}`;

/** The reviewer's system prompt: the answer's shape first, then its own definition. */
export function reviewerSystem(reviewer: WorkerDefinition, domain: DomainDefinition): string {
  return [
    `You are ${REVIEWER_MARKER}, the reviewer '${reviewer.name}' of the ${domain.name} domain of dan. You read one round of work on a task and decide whether it is done.`,
    'Answer with one JSON object and nothing else:',
    '{"verdict": "approve" | "request_changes", "summary": "<one sentence>", "comments": [{"file": "<path>", "line": <number>, "text": "<what to change and why>"}]}',
    'Request changes only for what the task needs; every comment names the file (and line) it is about.',
    '',
    reviewer.prompt.trim(),
  ].join('\n');
}

/** What the reviewer reads: the task, the round, the checks' results and the changes. */
export function reviewMessage(task: Task, round: number, changes: string, checks: readonly CheckRun[]): string {
  const lines = [`Task: ${task.description}`, `Round: ${round}`];
  if (task.requirements.length > 0) lines.push('', 'Requirements:', ...task.requirements.map((r) => `- ${r}`));
  const these = checks.filter((c) => c.round === round);
  lines.push('', 'Checks:', ...(these.length > 0 ? these.map((c) => `- ${c.ok ? 'passed' : 'FAILED'}: ${c.command}`) : ['- none']));
  lines.push('', 'Changes:', changes.trim() === '' ? '(no changes)' : changes);
  return lines.join('\n');
}
