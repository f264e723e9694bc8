import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { approvalView, decideTask } from '../operations/approvals.js';
import { actorOf, callerOf } from './api-auth.js';
import { ApiError, errorResponses } from './api-errors.js';
import { jobIdParamsSchema } from './api-schemas.js';
import type { ApiDeps } from './job-routes.js';
import { visibleResult } from './job-routes.js';

const decidedSchema = z.object({ id: z.string(), outcome: z.enum(['approved', 'rejected']) }).meta({ id: 'ApprovalDecided' });
const approveRequestSchema = z.strictObject({ note: z.string().max(1000).optional().describe('For the task log') }).nullish();
const rejectRequestSchema = z.strictObject({ reason: z.string().trim().min(1, { error: 'say why it is rejected' }).max(1000).describe("Why: becomes the task's error") });
const approvalSchema = z.object({
  id: z.string(),
  status: z.string(),
  awaiting: z.boolean(),
  plan: z.record(z.string(), z.unknown()).nullable().describe('The task as it will run: domain, description, requirements, priority, timeout, checks; for a task sent to main, route: the sub-tasks main planned (domain, description, after)'),
  since: z.string().nullable(),
  until: z.string().nullable().describe('When the approval window ends: then it fails approval_timeout'),
  decision: z.string().nullable(),
  decided_by: z.string().nullable(),
}).meta({ id: 'Approval' });

/** GET /jobs/{id}/approval, POST /jobs/{id}/approve and /reject: the approval gate over HTTP (role approve). */
export function registerApprovalRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.get('/jobs/:id/approval', {
    config: { role: 'read' },
    schema: {
      summary: 'What a job awaiting approval would do',
      description: 'Its plan (the task as it will run), when it began waiting and when its window ends; after a decision, who decided.',
      tags: ['jobs'],
      params: jobIdParamsSchema,
      response: { 200: approvalSchema, ...errorResponses(400, 401, 403, 404) },
    },
  }, async (request) => {
    await visibleResult(deps, callerOf(request), request.params.id);
    const view = await approvalView(deps.redis, deps.keys, request.params.id);
    if (view === undefined) throw new ApiError('not_found', `no job '${request.params.id}'`);
    return { ...view, plan: view.plan as Record<string, unknown> | null };
  });

  api.post('/jobs/:id/approve', {
    config: { role: 'approve' },
    schema: {
      summary: 'Approve a job awaiting approval (role approve)',
      description: 'It is queued again and runs. A job that is not awaiting approval answers 409 not_awaiting_approval.',
      tags: ['jobs'],
      params: jobIdParamsSchema,
      body: approveRequestSchema,
      response: { 200: decidedSchema, ...errorResponses(400, 401, 403, 404, 409) },
    },
  }, async (request) => {
    const caller = callerOf(request);
    await visibleResult(deps, caller, request.params.id);
    const note = request.body?.note;
    return decideTask(deps.redis, deps.keys, deps.config, request.params.id, { decision: 'approve', by: actorOf(caller), ...(note ? { reason: note } : {}) });
  });

  api.post('/jobs/:id/reject', {
    config: { role: 'approve' },
    schema: {
      summary: 'Reject a job awaiting approval (role approve)',
      description: "It ends failed with failure code 'rejected' and the reason as its error. A job that is not awaiting approval answers 409 not_awaiting_approval.",
      tags: ['jobs'],
      params: jobIdParamsSchema,
      body: rejectRequestSchema,
      response: { 200: decidedSchema, ...errorResponses(400, 401, 403, 404, 409) },
    },
  }, async (request) => {
    const caller = callerOf(request);
    await visibleResult(deps, caller, request.params.id);
    return decideTask(deps.redis, deps.keys, deps.config, request.params.id, { decision: 'reject', by: actorOf(caller), reason: request.body.reason });
  });
}
