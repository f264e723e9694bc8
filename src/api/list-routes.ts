import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { isTerminal } from '../../lib/protocol/result.js';
import { scrubText, scrubValue } from '../../lib/scrub.js';
import { DeadLetters } from '../../lib/redis/dead-letters.js';
import type { DeadLetter } from '../../lib/redis/dead-letters.js';
import { HeartbeatRegistry } from '../../lib/redis/heartbeat-registry.js';
import { ApiLimits } from '../../lib/redis/api-limits.js';
import { getResult } from '../../lib/redis/task-store.js';
import { entryJson } from '../cli/commands/dead-letter.js';
import { oneDeadLetter, retryDeadLetter, visibleDeadLetters } from '../operations/dead-letter-access.js';
import { knownDomains } from '../operations/known-domains.js';
import { listTasks, taskFilter } from '../operations/list-tasks.js';
import { queueCounts } from '../operations/network-overview.js';
import { retryFailedJob } from '../operations/retry-job.js';
import type { Caller } from './api-auth.js';
import { actorOf, callerOf, holdInFlight, listedClient, mayActFor, mayActForAll } from './api-auth.js';
import { ApiError, errorResponses } from './api-errors.js';
import { agentSchema, jobIdParamsSchema, SEED_STATUS } from './api-schemas.js';
import type { ApiDeps } from './job-routes.js';
import { ownerOf, visibleResult } from './job-routes.js';
import {
  agentIdParamsSchema, deadLetterListQuerySchema, deadLetterListSchema, deadLetterRefParamsSchema, deadLetterRetriedSchema,
  deadLetterRetryBodySchema, deadLetterSchema, domainsSchema, jobListQuerySchema, jobListSchema, jobRetriedSchema, purgeBodySchema, purgedSchema,
} from './list-schemas.js';

const seed = (status: string) => SEED_STATUS[status as keyof typeof SEED_STATUS] ?? 'QUEUED';
const who = (caller: Caller) => ({ client: caller.client, everything: mayActForAll(caller) });

/**
 * A dead letter as shown: its raw input and reason are what a client sent, kept as sent so a retry
 * queues them unchanged, so the secrets the logger would redact are scrubbed here, where they are shown.
 */
function deadLetterView(entry: DeadLetter) {
  return scrubValue(entryJson(entry)) as ReturnType<typeof deadLetterSchema.parse>;
}

/**
 * Runs `queue` (a retry) holding a place for job `taskId` among the caller's jobs in flight: a retry
 * is one more job running. The place is given back when it fails, unless the job is waiting or running
 * anyway (a racing retry queued it, and holds the same place).
 */
async function whileHeld<T>(deps: ApiDeps, caller: Caller, taskId: string, queue: () => Promise<T>): Promise<T> {
  const release = await holdInFlight(new ApiLimits(deps.redis, deps.keys), caller, taskId, deps.config.api.maxInFlight);
  try {
    return await queue();
  } catch (error) {
    const now = await getResult(deps.redis, deps.keys, taskId);
    if (now === undefined || isTerminal(now.status)) await release();
    throw error;
  }
}

/** Runs the caller's failed job `id` again (POST /jobs/{id}/retry, and each job of a bulk retry); its route's description says how. */
export async function retryJob(deps: ApiDeps, caller: Caller, id: string, to?: string): Promise<z.infer<typeof jobRetriedSchema>> {
  const result = await visibleResult(deps, caller, id);
  // Said in the API's names; retryFailedJob refuses it too, in dan's.
  if (result.status !== 'failed') {
    throw new ApiError('not_failed', `job '${id}' is ${seed(result.status)} (${result.status}), not FAILED: only a failed job can be retried`);
  }
  const done = await retryFailedJob(deps.redis, deps.keys, deps.config, result, {
    by: actorOf(caller), ...(to !== undefined ? { to } : {}), hold: (taskId, queue) => whileHeld(deps, caller, taskId, queue),
  });
  return { id: done.id, status: 'QUEUED' as const, dan_status: 'pending', domain: done.domain, dead_letter: done.deadLetterRef, retry_of: done.retryOf, location: `/jobs/${done.id}` };
}

/** Queues a dead letter the caller sees again (POST /dead-letters/{ref}/retry, and each entry of a bulk retry). */
export async function retryDeadLetterEntry(deps: ApiDeps, caller: Caller, entry: DeadLetter, to?: string): Promise<z.infer<typeof deadLetterRetriedSchema>> {
  const retry = () => retryDeadLetter(deps.redis, deps.keys, deps.config, entry, { by: actorOf(caller), ...(to !== undefined ? { to } : {}) });
  const done = entry.taskId === undefined ? await retry() : await whileHeld(deps, caller, entry.taskId, retry);
  return { ref: entry.ref, from: entry.domain, to: done.to, task_id: done.taskId ?? null };
}

/** GET /jobs, POST /jobs/{id}/retry, the dead letters, GET /domains and GET /agents/{id}. */
export function registerListRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { redis, keys, config } = deps;
  api.get('/jobs', {
    config: { role: 'read' },
    schema: {
      summary: "List a client's jobs, newest first",
      description: "Filters combine; pages follow next_cursor. The key's own client's jobs are listed; an admin key may name another client with `client` (any other key: 403). Only while their results are kept (DAN_RETENTION_MS after they end).",
      tags: ['jobs'],
      querystring: jobListQuerySchema,
      response: { 200: jobListSchema, ...errorResponses(400, 401, 403) },
    },
  }, async (request) => {
    const caller = callerOf(request);
    const q = request.query;
    const filter = taskFilter({ status: q.status, domain: q.domain, parent: q.parent, since: q.since, until: q.until, text: q.q }, { since: 'since', until: 'until' });
    const page = await listTasks(redis, keys, listedClient(caller, q.client), filter, { limit: q.limit, ...(q.cursor !== undefined ? { cursor: q.cursor } : {}) });
    return {
      jobs: page.tasks.map((t) => ({
        // A description is stored as sent (the agents need it whole); what is shown is scrubbed.
        id: t.id, status: seed(t.status), dan_status: t.status, client: t.client, domain: t.domain, parent: t.parent, description: t.description === null ? null : scrubText(t.description),
        sent_at: t.sentAt, started_at: t.startedAt, completed_at: t.completedAt, error: t.error, failure_code: t.failureCode, attempts: t.attempts,
      })),
      next_cursor: page.nextCursor ?? null,
    };
  });

  api.post('/jobs/:id/retry', {
    config: { role: 'submit' },
    schema: {
      summary: 'Run a failed job again',
      description: "A job that failed by being dead-lettered (a domain nobody serves, a full queue, bad input) goes back on its queue under its own id, from its dead letter, as `dan dead-letter retry` does. A job that failed on an agent (its attempts spent, a timeout, cancelled while it ran) is sent again as a new job, `<id>.r1`, with the same input and `metadata.retry_of` naming it: dan plans a job's sub-tasks under its id, so a fresh id is what runs it afresh. `id` in the answer is the job that now runs. A job is retried once: a second retry answers 409 already_retried naming the new job (retry that one instead). 409 not_failed for a job that is waiting, running or completed; 409 not_retryable for a sub-task (retry its job) or a job whose input is not kept (it failed before an agent took it). The retry takes a place among the key's jobs in flight.",
      tags: ['jobs'],
      params: jobIdParamsSchema,
      body: deadLetterRetryBodySchema,
      response: { 200: jobRetriedSchema, ...errorResponses(400, 401, 403, 404, 409, 422, 503) },
    },
  }, async (request) => retryJob(deps, callerOf(request), request.params.id, request.body?.to));

  api.get('/dead-letters', {
    config: { role: 'read' },
    schema: {
      summary: 'Dead-lettered input, newest first',
      description: "Input the network could not take as a task, with the reason and the raw input. A client sees the entries of its own tasks; an admin key sees every entry.",
      tags: ['dead letters'],
      querystring: deadLetterListQuerySchema,
      response: { 200: deadLetterListSchema, ...errorResponses(400, 401, 403) },
    },
  }, async (request) => {
    const caller = callerOf(request);
    const entries = await visibleDeadLetters(redis, keys, who(caller), request.query.domain);
    return { total: entries.length, entries: entries.slice(0, request.query.limit).map(deadLetterView) };
  });

  api.get('/dead-letters/:ref', {
    config: { role: 'read' },
    schema: {
      summary: 'One dead letter',
      tags: ['dead letters'],
      params: deadLetterRefParamsSchema,
      response: { 200: deadLetterSchema, ...errorResponses(400, 401, 403, 404, 409) },
    },
  }, async (request) => {
    const caller = callerOf(request);
    return deadLetterView(oneDeadLetter(await visibleDeadLetters(redis, keys, who(caller)), request.params.ref));
  });

  api.post('/dead-letters/:ref/retry', {
    config: { role: 'submit' },
    schema: {
      summary: 'Queue a dead letter again',
      description: 'Its input goes back on its domain (or `to`) and the entry is removed, in one step, as `dan dead-letter retry` does.',
      tags: ['dead letters'],
      params: deadLetterRefParamsSchema,
      body: deadLetterRetryBodySchema,
      response: { 200: deadLetterRetriedSchema, ...errorResponses(400, 401, 403, 404, 409, 422, 503) },
    },
  }, async (request) => {
    const caller = callerOf(request);
    return retryDeadLetterEntry(deps, caller, oneDeadLetter(await visibleDeadLetters(redis, keys, who(caller)), request.params.ref), request.body?.to);
  });

  api.post('/dead-letters/purge', {
    config: { role: 'admin' },
    schema: {
      summary: 'Delete dead letters (admin)',
      description: 'Named entries (all must exist, or nothing is deleted), or all of them (of one domain).',
      tags: ['dead letters'],
      body: purgeBodySchema,
      response: { 200: purgedSchema, ...errorResponses(400, 401, 403, 404, 409) },
    },
  }, async (request) => {
    const body = request.body;
    const store = new DeadLetters(redis, keys);
    const entries = await store.read(body.all === true ? body.domain : undefined);
    const chosen = body.all === true ? entries : [...new Map((body.refs ?? []).map((ref) => {
      const entry = oneDeadLetter(entries, ref);
      return [`${entry.domain}:${entry.index}`, entry] as const;
    })).values()];
    const deleted = await store.purge(chosen);
    return { deleted, refs: chosen.map((e) => e.ref) };
  });

  api.get('/domains', {
    config: { role: 'read' },
    schema: {
      summary: 'Work per domain: waiting, running, dead-lettered',
      tags: ['network'],
      response: { 200: domainsSchema, ...errorResponses(401, 403) },
    },
  }, async () => ({ domains: await queueCounts(redis, keys, ['main', ...(await knownDomains(redis, keys, config))]) }));

  api.get('/agents/:id', {
    config: { role: 'read' },
    schema: {
      summary: 'One registered agent',
      description: "Its task_id is shown only when that task is the caller's (an admin sees every one).",
      tags: ['network'],
      params: agentIdParamsSchema,
      response: { 200: agentSchema, ...errorResponses(400, 401, 403, 404) },
    },
  }, async (request) => {
    const caller = callerOf(request);
    const known = await knownDomains(redis, keys, config);
    const agent = (await new HeartbeatRegistry(redis, keys, config.heartbeatTtlMs).list(known)).find((a) => a.agent_id === request.params.id);
    if (agent === undefined) throw new ApiError('not_found', `no agent '${request.params.id}' is registered; GET /agents lists them`);
    if (agent.task_id !== undefined && !mayActForAll(caller)) {
      const task = await getResult(redis, keys, agent.task_id);
      if (task === undefined || !mayActFor(caller, ownerOf(task))) {
        const { task_id: _hidden, ...rest } = agent;
        return rest;
      }
    }
    return agent;
  });
}
