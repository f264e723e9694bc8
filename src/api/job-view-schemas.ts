import { z } from 'zod';
import { DELIVERY_OUTCOMES } from '../../lib/workspace/task-branch.js';
import { SPAN_KINDS } from '../operations/task-timeline.js';

/** Shapes of a job's extra views (diff, lessons, timeline), the same JSON `dan diff --json` and `dan elf injections --json` print. */

export const jobDiffSchema = z.array(z.object({
  task_id: z.string().describe('The task whose branch this is: the job, or one of its sub-tasks'),
  repository: z.string(),
  branch: z.string(),
  base_commit: z.string(),
  commit: z.string(),
  delivery: z.enum(DELIVERY_OUTCOMES),
  merged_into: z.string().optional(),
  remote: z.string().optional(),
  diff: z.string().describe('git diff from base_commit to commit (with ?stat=true: the files and how much changed)'),
})).meta({ id: 'JobDiff' });

export const jobDiffQuerySchema = z.strictObject({
  stat: z.enum(['true', 'false']).optional().describe('true: only the files changed and how much, as dan diff --stat'),
});

export const jobLessonsSchema = z.array(z.object({
  taskId: z.string(),
  domain: z.string(),
  worker: z.string(),
  text: z.string().describe('The exact memory text the worker was given'),
  heuristicIds: z.array(z.number()),
  tokens: z.number(),
  createdAt: z.string(),
})).meta({ id: 'JobLessons' });

export const timelineSchema = z.object({
  job_id: z.string(),
  spans: z.array(z.object({
    id: z.string(),
    parent_id: z.string().nullable().describe('The span this one happened within: a sub-task or a call in an attempt, an attempt in a sub-task'),
    kind: z.enum(SPAN_KINDS),
    name: z.string(),
    task_id: z.string(),
    agent_id: z.string().nullable(),
    start: z.string(),
    end: z.string().nullable().describe('null while it runs, or when no record says when it ended'),
    duration_ms: z.number().nullable(),
    status: z.string().nullable().describe("A model call's is 'ok' or 'error'"),
    error: z.string().nullable().describe('Why a model call failed (its API error or timeout, one line); null for every other span'),
  })).describe("Ordered by start. Model calls are those of the workers, the router and the worker selector, each recorded once it answered or failed; tool calls are the workers'; checks and reviews of verified tasks"),
}).meta({ id: 'JobTimeline' });

/** The checks a verified task ran (its output's `checks`), as `dan status` lists them. */
export const checkRunSchema = z.object({
  command: z.string(),
  exit_code: z.number().nullable(),
  duration_ms: z.number(),
  ok: z.boolean(),
  output_tail: z.string(),
  round: z.number(),
  ended: z.enum(['timeout', 'not_found', 'stopped']).optional(),
});

/** A reviewer's verdict on one round (its output's `review` and `reviews`). */
export const reviewSchema = z.object({
  verdict: z.enum(['approve', 'request_changes']),
  summary: z.string().optional(),
  comments: z.array(z.object({ file: z.string(), line: z.number().optional(), text: z.string() })),
  round: z.number(),
  reviewer: z.string(),
});

/**
 * The checks and reviews a verified task's output carries (`checks`, `review`, `reviews`), for
 * GET /jobs/{id}; each read with its schema, so a value an agent wrote wrong reads as absent.
 */
export function verification(output: Record<string, unknown> | undefined) {
  const checks = z.array(checkRunSchema).safeParse(output?.['checks']);
  const review = reviewSchema.safeParse(output?.['review']);
  const reviews = z.array(reviewSchema).safeParse(output?.['reviews']);
  return { checks: checks.success ? checks.data : null, review: review.success ? review.data : null, reviews: reviews.success ? reviews.data : [] };
}
