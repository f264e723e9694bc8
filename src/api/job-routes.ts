import { createHash, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import type { Config } from '../../lib/config.js';
import { InvalidInputError } from '../../lib/errors.js';
import { DEFAULT_CLIENT_ID } from '../../lib/protocol/client-id.js';
import { readFailure } from '../../lib/protocol/failure.js';
import type { TaskResult } from '../../lib/protocol/result.js';
import { tokenUsageSchema } from '../../lib/protocol/result.js';
import type { Keys } from '../../lib/redis/keys.js';
import { ApiLimits } from '../../lib/redis/api-limits.js';
import { cancelTask } from '../../lib/redis/cancel-task.js';
import type { SubmitInput } from '../../lib/redis/task-store.js';
import { getResult } from '../../lib/redis/task-store.js';
import type { KnownPlan } from '../operations/task-children.js';
import { childStatuses, readPlan } from '../operations/task-children.js';
import { submitJob, taskProblem } from '../operations/submit-job.js';
import type { Caller } from './api-auth.js';
import { actorOf, callerOf, holdInFlight, mayActFor, prefetched } from './api-auth.js';
import { ApiError, errorResponses } from './api-errors.js';
import type { JobRequest } from './api-schemas.js';
import { verification } from './job-view-schemas.js';
import { cancelledSchema, cancelRequestSchema, jobAcceptedSchema, jobHeadersSchema, jobCostSchema, jobIdParamsSchema, jobRequestSchema, jobSchema, SEED_STATUS } from './api-schemas.js';

export interface ApiDeps {
  redis: Redis;
  keys: Keys;
  config: Config;
}

/**
 * The task id of a submit with an Idempotency-Key: derived from the client and the key, so a retry
 * of the same submit names the same task, and `submitTask`'s refusal of a used id (one atomic script)
 * is what keeps a second job from being queued. Another client's same key names another task.
 */
export function idempotentTaskId(client: string, idempotencyKey: string): string {
  return `job-${createHash('sha256').update(`${client}\n${idempotencyKey}`).digest('hex').slice(0, 32)}`;
}

/** The task `dan send` would queue for this body, sent for `client`. */
export function taskFromRequest(body: JobRequest, client: string): SubmitInput {
  const echo = body.job_type === 'echo';
  const payload = body.payload ?? {};
  const described = typeof payload['description'] === 'string' ? payload['description'] : undefined;
  return {
    domain: body.domain ?? 'main',
    description: body.description ?? described ?? (echo ? 'echo' : ''),
    type: echo ? 'echo' : 'task_assignment',
    source: 'api',
    requirements: body.requirements ?? [],
    context: body.context ?? {},
    priority: body.priority ?? 'normal',
    ...(body.timeout_seconds !== undefined ? { timeoutSeconds: body.timeout_seconds } : {}),
    ...(echo ? { extraPayload: payload } : {}),
    extraMetadata: {
      client_id: client, ...(body.max_attempts !== undefined ? { max_attempts: body.max_attempts } : {}),
      ...(body.approval !== undefined ? { approval: body.approval } : {}),
      ...(body.approval_timeout_seconds !== undefined ? { approval_timeout_seconds: body.approval_timeout_seconds } : {}),
      ...(body.budget_usd !== undefined ? { budget_usd: body.budget_usd } : {}),
    },
  };
}

/** The seed's name of a dan status; a status it has no name for (none today) reads as queued. */
export function seedStatus(status: string): (typeof SEED_STATUS)[keyof typeof SEED_STATUS] {
  return SEED_STATUS[status as keyof typeof SEED_STATUS] ?? 'QUEUED';
}

/** 403 for a client the network does not serve: its tasks would only be dead-lettered by the first agent to claim them (README "Known clients"). */
export function refuseUnservedClient(caller: Caller, config: Pick<Config, 'clients'>): void {
  const served = config.clients;
  if (served !== undefined && caller.client !== DEFAULT_CLIENT_ID && !served.includes(caller.client)) {
    throw new ApiError('forbidden', `client '${caller.client}' is not one this network serves (DAN_CLIENTS: ${served.join(', ') || 'none'}): ask an operator to add it`);
  }
}

/** Whose a task is: its `client_id`, or `default` for tasks sent without one (`dan send`, raw pushes). */
export function ownerOf(result: TaskResult): string {
  return result.clientId ?? DEFAULT_CLIENT_ID;
}

/**
 * The task if the caller may see it (`mayActFor`: its own client's, or any for an admin key), else 404:
 * a task the caller may not see answers exactly as a missing one does. Every route that reads or acts on
 * one job by id asks here.
 */
export async function visibleResult(deps: ApiDeps, caller: Caller, id: string): Promise<TaskResult> {
  return ownResult(caller, id, await getResult(deps.redis, deps.keys, id));
}

function ownResult(caller: Caller, id: string, result: TaskResult | undefined): TaskResult {
  if (result === undefined || !mayActFor(caller, ownerOf(result))) {
    throw new ApiError('not_found', `no job '${id}' (it never existed, belongs to another client, or its result expired after the retention period)`);
  }
  return result;
}

interface JobRead {
  id: string;
  result: TaskResult | undefined;
  plan: KnownPlan;
}

/** A job's result and plan, read in one tick (one write, one round trip), whoever turns out to ask. */
async function readJob(deps: ApiDeps, id: string): Promise<JobRead> {
  const [result, plan] = await Promise.all([getResult(deps.redis, deps.keys, id), readPlan(deps.redis, deps.keys, id)]);
  return { id, result, plan };
}

async function jobView(deps: ApiDeps, result: TaskResult, plan: KnownPlan): Promise<z.infer<typeof jobSchema>> {
  const failure = result.status === 'failed' ? readFailure(result.output) : undefined;
  const usage = tokenUsageSchema.safeParse(result.output?.['usage']);
  const children = await childStatuses(deps.redis, deps.keys, result.taskId, result, plan);
  return {
    id: result.taskId,
    status: seedStatus(result.status),
    dan_status: result.status,
    domain: result.domain ?? null,
    client: ownerOf(result),
    output: result.output ?? null,
    error: result.error ?? null,
    failure_code: failure?.code ?? null,
    retryable: failure?.retryable ?? null,
    attempts: result.attempts ?? null,
    sub_tasks: children.map((c) => ({
      id: c.task_id,
      status: c.status in SEED_STATUS ? seedStatus(c.status) : null,
      dan_status: c.status,
      error: c.error ?? null,
    })),
    started_at: result.startedAt ?? null,
    completed_at: result.completedAt ?? null,
    retry_at: result.raw['retry_at'] ?? null,
    tokens: usage.success && result.output?.['usage'] !== undefined ? usage.data : null,
    ...verification(result.output),
    cost: jobCost(result.output),
    depends_on: result.raw['depends_on'] ? result.raw['depends_on'].split(',') : null,
  };
}

/** Cancels job `id` if the caller may see it (POST /jobs/{id}/cancel, and each job of a bulk cancel): 404, or 409 already_ended. */
export async function cancelJob(deps: ApiDeps, caller: Caller, id: string, reason?: string): Promise<z.infer<typeof cancelledSchema>> {
  await visibleResult(deps, caller, id);
  const outcome = await cancelTask(deps.redis, deps.keys, id, {
    by: actorOf(caller), retentionMs: deps.config.retentionMs, ...(reason ? { reason } : {}),
  });
  if (outcome.kind === 'ended') throw new ApiError('already_ended', `job '${id}' already ended as ${outcome.status}; nothing to cancel`);
  if (outcome.kind === 'not_found') throw new ApiError('not_found', `no job '${id}' (its result expired after the retention period)`);
  return { id, outcome: 'cancelled' as const, was_running_on: outcome.owner ?? null, sub_tasks: outcome.children.map((c) => c.taskId) };
}

/** POST /jobs, GET /jobs/{id}, POST /jobs/{id}/cancel. */
export function registerJobRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const limits = new ApiLimits(deps.redis, deps.keys);

  api.post('/jobs', {
    config: { role: 'submit' },
    schema: {
      summary: 'Send a job',
      description: "The seed's body ({\"job_type\": \"echo\", \"payload\": {...}}) or dan's own. With an Idempotency-Key header, a retried submit answers the first job instead of queueing a second.",
      tags: ['jobs'],
      body: jobRequestSchema,
      headers: jobHeadersSchema,
      response: { 202: jobAcceptedSchema, ...errorResponses(400, 401, 403, 413, 415, 422, 429, 503) },
    },
  }, async (request, reply) => {
    const caller = callerOf(request);
    refuseUnservedClient(caller, deps.config);
    const idempotencyKey = request.headers['idempotency-key'];
    const taskId = idempotencyKey === undefined ? undefined : idempotentTaskId(caller.client, idempotencyKey);
    // Filled in place, not spread into a copy: object spread was a measurable part of each POST.
    const task: SubmitInput = taskFromRequest(request.body, caller.client);
    if (taskId !== undefined) task.taskId = taskId;
    const problem = taskProblem(task, deps.config);
    if (problem !== undefined) throw new InvalidInputError(problem.replace(/^payload\./, ''));
    // A replayed submit answers the first job as it stands now.
    const accepted = (id: string, first?: TaskResult) => {
      const location = `/jobs/${id}`;
      const status = first?.status ?? 'pending';
      return reply.code(202).header('location', location)
        .send({ id, status: seedStatus(status), dan_status: status, domain: first?.domain ?? task.domain, client: caller.client, location, replayed: first !== undefined });
    };
    const earlier = taskId === undefined ? undefined : await getResult(deps.redis, deps.keys, taskId);
    if (taskId !== undefined && earlier !== undefined) return accepted(taskId, earlier);
    // The id is chosen here, so its place among the key's jobs in flight is taken before it is queued.
    const id = taskId ?? randomUUID();
    task.taskId = id;
    const release = await holdInFlight(limits, caller, id, deps.config.api.maxInFlight);
    try {
      const dependencies = request.body.depends_on === undefined ? undefined : { after: request.body.depends_on, runIf: request.body.run_if ?? 'success' as const };
      if (dependencies === undefined && request.body.run_if !== undefined) throw new InvalidInputError('run_if goes with depends_on: name the jobs to wait for');
      await submitJob(deps.redis, deps.keys, deps.config, task, dependencies);
      return accepted(id, dependencies ? await getResult(deps.redis, deps.keys, id) : undefined);
    } catch (error) {
      // Two retries at once: the other one queued it between the read above and the submit (and holds its place).
      const raced = taskId === undefined ? undefined : await getResult(deps.redis, deps.keys, taskId);
      if (taskId !== undefined && raced !== undefined) return accepted(taskId, raced);
      await release();
      throw error;
    }
  });

  api.get('/jobs/:id', {
    // Read with the key check: the busiest read of the API costs one round trip instead of two.
    config: { role: 'read', prefetch: (request) => readJob(deps, String((request.params as { id?: unknown }).id)) },
    schema: {
      summary: 'Read a job',
      description: "Its status in dan's words and the seed's, output, error and failure code, attempts, sub-tasks, times and tokens.",
      tags: ['jobs'],
      params: jobIdParamsSchema,
      response: { 200: jobSchema, ...errorResponses(400, 401, 403, 404) },
    },
  }, async (request) => {
    const caller = callerOf(request);
    const id = request.params.id;
    let job = await prefetched<JobRead>(request);
    // Read by the raw URL param; should validation ever change the id, it is read again as validated.
    if (job.id !== id) job = await readJob(deps, id);
    return jobView(deps, ownResult(caller, id, job.result), job.plan);
  });

  api.post('/jobs/:id/cancel', {
    config: { role: 'submit' },
    schema: {
      summary: 'Cancel a job',
      description: "It ends failed with failure code 'cancelled'; its running worker is stopped, its sub-tasks too.",
      tags: ['jobs'],
      params: jobIdParamsSchema,
      body: cancelRequestSchema,
      response: { 200: cancelledSchema, ...errorResponses(400, 401, 403, 404, 409) },
    },
  }, async (request) => {
    return cancelJob(deps, callerOf(request), request.params.id, request.body?.reason);
  });
}

/** The job's `output.cost_total` when it is one (results are read from Redis: anything else is null). */
function jobCost(output: Record<string, unknown> | undefined): z.infer<typeof jobCostSchema> | null {
  const parsed = jobCostSchema.safeParse(output?.['cost_total']);
  return parsed.success ? parsed.data : null;
}
