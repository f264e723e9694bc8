import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DeadLetters } from '../../lib/redis/dead-letters.js';
import { eachItem, matchingTasks, MAX_BULK } from '../operations/bulk-actions.js';
import { visibleDeadLetters } from '../operations/dead-letter-access.js';
import { taskFilter } from '../operations/list-tasks.js';
import type { Caller } from './api-auth.js';
import { callerOf, listedClient, mayActForAll } from './api-auth.js';
import { ApiError, errorResponses } from './api-errors.js';
import type { ApiDeps } from './job-routes.js';
import { cancelJob } from './job-routes.js';
import { retryDeadLetterEntry, retryJob } from './list-routes.js';
import { deadLetterListQuerySchema, jobListQuerySchema } from './list-schemas.js';

/**
 * Bulk actions by filter: each matched item gets its single action (POST /jobs/{id}/cancel,
 * /jobs/{id}/retry, /dead-letters/{ref}/retry, a purge), one after another, and the answer says
 * which were done and which were skipped and why. The caller's client's jobs are matched; an admin key
 * may name another client with `client`, as GET /jobs takes it.
 */

const limit = z.number().int().min(1).max(MAX_BULK).default(MAX_BULK).describe(`Most items to act on, 1 to ${MAX_BULK} (the newest first)`);

/** The GET /jobs filters, as a JSON body. */
export const jobBulkBodySchema = jobListQuerySchema.omit({ limit: true, cursor: true }).extend({ limit });
export const deadLetterBulkBodySchema = deadLetterListQuerySchema.extend({ limit });

export const bulkOutcomeSchema = z.object({
  matched: z.number().describe('Items the filter matched (at most limit)'),
  done: z.array(z.string()).describe('Ids (dead letters: refs) acted on'),
  skipped: z.array(z.object({ id: z.string(), code: z.string().describe("The error code its single action answers (already_ended, not_failed, ...)"), reason: z.string() })),
}).meta({ id: 'BulkOutcome' });

/** POST /jobs/bulk/cancel, /jobs/bulk/retry, /dead-letters/bulk/retry, /dead-letters/bulk/purge. */
export function registerBulkRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { redis, keys } = deps;
  const jobsOf = (caller: Caller, body: z.infer<typeof jobBulkBodySchema>) => matchingTasks(redis, keys, listedClient(caller, body.client),
    taskFilter({ status: body.status, domain: body.domain, parent: body.parent, since: body.since, until: body.until, text: body.q }, { since: 'since', until: 'until' }), body.limit);
  const lettersOf = async (caller: Caller, body: z.infer<typeof deadLetterBulkBodySchema>) =>
    (await visibleDeadLetters(redis, keys, { client: caller.client, everything: mayActForAll(caller) }, body.domain)).slice(0, body.limit);
  const schema = <B extends z.ZodType>(summary: string, description: string, tag: string, body: B) => ({
    summary, description, tags: [tag], body, response: { 200: bulkOutcomeSchema, ...errorResponses(400, 401, 403, 415, 503) },
  });

  api.post('/jobs/bulk/cancel', {
    config: { role: 'submit' },
    schema: schema('Cancel the jobs a filter matches', "Each as POST /jobs/{id}/cancel; jobs already ended are skipped (already_ended). The filters are GET /jobs's.", 'jobs', jobBulkBodySchema),
  }, async (request) => {
    const caller = callerOf(request);
    return eachItem(await jobsOf(caller, request.body), (t) => t.id, (t) => cancelJob(deps, caller, t.id));
  });

  api.post('/jobs/bulk/retry', {
    config: { role: 'submit' },
    schema: schema('Retry the failed jobs a filter matches', "Each as POST /jobs/{id}/retry (a job that failed on an agent runs again as <id>.r1; done names the jobs retried); jobs that have not failed (not_failed), were retried already (already_retried), cannot be retried (not_retryable) or find the key's jobs in flight full (rate_limited) are skipped.", 'jobs', jobBulkBodySchema),
  }, async (request) => {
    const caller = callerOf(request);
    return eachItem(await jobsOf(caller, request.body), (t) => t.id, (t) => retryJob(deps, caller, t.id));
  });

  api.post('/dead-letters/bulk/retry', {
    config: { role: 'submit' },
    schema: schema('Queue dead letters again', 'Each as POST /dead-letters/{ref}/retry, newest first; the entries are those GET /dead-letters shows the caller (of one domain with domain).', 'dead letters', deadLetterBulkBodySchema),
  }, async (request) => {
    const caller = callerOf(request);
    const entries = await lettersOf(caller, request.body);
    return eachItem(entries, (e) => e.ref, (e) => retryDeadLetterEntry(deps, caller, e));
  });

  api.post('/dead-letters/bulk/purge', {
    config: { role: 'submit' },
    schema: schema('Delete dead letters', "The entries GET /dead-letters shows the caller (of one domain with domain), newest first; one gone meanwhile is skipped (not_found).", 'dead letters', deadLetterBulkBodySchema),
  }, async (request) => {
    const caller = callerOf(request);
    const entries = await lettersOf(caller, request.body);
    const store = new DeadLetters(redis, keys);
    return eachItem(entries, (e) => e.ref, async (e) => {
      if ((await store.purge([e])) === 0) throw new ApiError('not_found', `dead letter ${e.ref} is gone: someone retried or purged it meanwhile`);
    });
  });
}
