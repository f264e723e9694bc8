import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DEFAULT_CLIENT_ID } from '../../lib/protocol/client-id.js';
import { MAX_WORKFLOW_BYTES } from '../../lib/protocol/workflow.js';
import { readWorkflow, readWorkflowView, submitWorkflow } from '../operations/workflows.js';
import { callerOf, mayActFor } from './api-auth.js';
import { ApiError, errorResponses } from './api-errors.js';
import { jobIdParamsSchema } from './api-schemas.js';
import type { ApiDeps } from './job-routes.js';
import { refuseUnservedClient } from './job-routes.js';

const workflowRequestSchema = z.strictObject({
  yaml: z.string().min(1).max(MAX_WORKFLOW_BYTES).describe('The workflow file: name and steps, each with description and optional domain, needs, run_if, metadata'),
}).meta({ id: 'WorkflowRequest' });

const workflowStepSchema = z.object({
  name: z.string(),
  task_id: z.string(),
  status: z.string().describe("waiting, pending, in_progress, completed or failed"),
  needs: z.array(z.string()),
  depth: z.number().describe('Steps deep (0: needs none), for drawing'),
  error: z.string().optional(),
});

const workflowSchema = z.object({
  id: z.string(),
  status: z.string(),
  client: z.string(),
  steps: z.array(workflowStepSchema),
}).meta({ id: 'Workflow' });

/** POST /workflows and GET /workflows/{id}: a workflow file run as a parent task of waiting steps. */
export function registerWorkflowRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post('/workflows', {
    config: { role: 'submit' },
    schema: {
      summary: 'Run a workflow',
      description: "A workflow file's text in `yaml`. Each step becomes a job that waits on the steps it `needs:`; the workflow is a job too (domain 'workflow'), which ends once every step has. A bad file is refused (400) with each problem's line.",
      tags: ['workflows'],
      body: workflowRequestSchema,
      response: { 202: workflowSchema, ...errorResponses(400, 401, 403, 413, 415, 422) },
    },
  }, async (request, reply) => {
    const caller = callerOf(request);
    refuseUnservedClient(caller, deps.config);
    const workflow = readWorkflow(request.body.yaml, 'yaml');
    const { workflowId } = await submitWorkflow(deps.redis, deps.keys, deps.config, workflow, { clientId: caller.client, source: 'api' });
    const view = await readWorkflowView(deps.redis, deps.keys, workflowId);
    return reply.code(202).header('location', `/workflows/${workflowId}`)
      .send({ id: workflowId, status: view?.status ?? 'waiting', client: caller.client, steps: view?.steps ?? [] });
  });

  api.get('/workflows/:id', {
    config: { role: 'read' },
    schema: {
      summary: 'Read a workflow',
      description: 'Its status and each step with its state and what it needs, in an order where each step comes after those it needs.',
      tags: ['workflows'],
      params: jobIdParamsSchema,
      response: { 200: workflowSchema, ...errorResponses(400, 401, 403, 404) },
    },
  }, async (request) => {
    const caller = callerOf(request);
    const id = request.params.id;
    const view = await readWorkflowView(deps.redis, deps.keys, id);
    const client = view?.clientId ?? DEFAULT_CLIENT_ID;
    if (!view || !mayActFor(caller, client)) throw new ApiError('not_found', `no workflow '${id}' (it never existed, is a job rather than a workflow, belongs to another client, or expired)`);
    return { id, status: view.status, client, steps: view.steps };
  });
}
