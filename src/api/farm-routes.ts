import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { InvalidInputError } from '../../lib/errors.js';
import { FARM_RUNTIMES } from '../../lib/farm/farm-request.js';
import { taskMetadataSchema } from '../../lib/protocol/task.js';
import { ApiLimits } from '../../lib/redis/api-limits.js';
import { farmHistory, farmPathProblem, farmStatus, farmTask, startFarm, stopFarm } from '../operations/farm-access.js';
import { MAX_LIMIT } from '../operations/list-tasks.js';
import { taskProblem } from '../operations/submit-job.js';
import { callerOf, holdInFlight } from './api-auth.js';
import { ApiError, errorResponses } from './api-errors.js';
import { jobIdParamsSchema } from './api-schemas.js';
import type { ApiDeps } from './job-routes.js';
import { refuseUnservedClient, visibleResult } from './job-routes.js';

const farmRequestSchema = z.strictObject({
  description: z.string().max(10_000).optional().describe('The task, in words (required unless problems_command is given)'),
  path: z.string().trim().min(1).max(1_000).describe("The git repository to work on, inside the client's workspace (a relative path is taken from there)"),
  agent_count: z.number().int().min(1).optional().describe('How many agents (default DAN_FARM_AGENTS; at most DAN_FARM_MAX_AGENTS)'),
  problems_command: z.string().trim().min(1).max(1_000).optional().describe('The command that lists the problems (npm run lint, npx tsc --noEmit, ...)'),
  runtime: z.enum(FARM_RUNTIMES, { error: `must be one of ${FARM_RUNTIMES.join(', ')}` }).optional().describe('claude-code or sdk (default DAN_FARM_RUNTIME)'),
  budget_usd: taskMetadataSchema.shape.budget_usd.describe("Dollars the farm's model calls may cost, all its agents together (above 0, at most 100000); once a call is refused the farm stops, failed budget_exceeded"),
}).meta({ id: 'FarmRequest' });

const farmAcceptedSchema = z.object({ id: z.string().describe('The farm id: its job id too (GET /jobs?domain=farm lists them)'), location: z.string() }).meta({ id: 'FarmAccepted' });

const farmStatusSchema = z.object({
  farm: z.record(z.string(), z.string()).describe('The farm: status, path, runtime, problems before and after, chunks, result branch, error'),
  agents: z.array(z.looseObject({ name: z.string(), locked: z.array(z.string()).describe('Files it holds locked') }).describe('Its state: status, chunk, restarts, tokens, last event')),
}).meta({ id: 'FarmStatus' });

const farmListQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(50).describe(`Farms, 1 to ${MAX_LIMIT}: the client's last farm jobs, of which those that started are listed`),
});

const farmListSchema = z.object({
  farms: z.array(z.object({
    id: z.string(),
    status: z.string().describe("The farm's status (running, merging, completed, failed)"),
    started_at: z.string().nullable(),
    ended_at: z.string().nullable().describe('null while it runs'),
    problems_before: z.number().nullable().describe('Problems its problems command reported as it started; null without one'),
    problems_after: z.number().nullable().describe('Problems reported as it ended; null while it runs and when they could not be counted'),
  })),
}).meta({ id: 'FarmList' });

const stoppingSchema = z.object({ id: z.string(), stopping: z.literal(true) }).meta({ id: 'FarmStopping' });

/** POST /farms, GET /farms (its farms' problems before and after), GET /farms/{id}, POST /farms/{id}/stop: `dan farm start|status|stop` for the caller's client. */
export function registerFarmRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const limits = new ApiLimits(deps.redis, deps.keys);

  api.post('/farms', {
    config: { role: 'submit' },
    schema: {
      summary: 'Start an agent farm (dan farm start)',
      description: "Many agents on one git repository in the caller's workspace. A farm is a job of the farm domain: GET /jobs/{id} reads it as a job, GET /farms/{id} as a farm once it has started.",
      tags: ['farms'],
      body: farmRequestSchema,
      response: { 202: farmAcceptedSchema, ...errorResponses(400, 401, 403, 413, 415, 503) },
    },
  }, async (request, reply) => {
    const caller = callerOf(request);
    refuseUnservedClient(caller, deps.config);
    const body = request.body;
    const outside = farmPathProblem(deps.config, caller.client, body.path);
    if (outside !== undefined) throw new InvalidInputError(outside);
    const task = farmTask({
      description: body.description, path: body.path, agentCount: body.agent_count, problemsCommand: body.problems_command, runtime: body.runtime,
      source: 'api', extraMetadata: { client_id: caller.client, ...(body.budget_usd !== undefined ? { budget_usd: body.budget_usd } : {}) },
    }, deps.config, (field) => (field === 'agents' ? 'agent_count' : 'timeout_seconds'));
    const problem = taskProblem(task, deps.config);
    if (problem !== undefined) throw new InvalidInputError(problem.replace(/^payload\./, ''));
    const id = randomUUID();
    const release = await holdInFlight(limits, caller, id, deps.config.api.maxInFlight);
    try {
      await startFarm(deps.redis, deps.keys, deps.config, { ...task, taskId: id });
    } catch (error) {
      await release();
      throw error;
    }
    const location = `/farms/${id}`;
    return reply.code(202).header('location', location).send({ id, location });
  });

  api.get('/farms', {
    config: { role: 'read' },
    schema: {
      summary: "The client's farms with their problems before and after",
      description: 'Newest first; a farm still queued (no state yet) is left out: GET /jobs?domain=farm lists every farm job.',
      tags: ['farms'],
      querystring: farmListQuerySchema,
      response: { 200: farmListSchema, ...errorResponses(400, 401, 403) },
    },
  }, async (request) => {
    const caller = callerOf(request);
    const farms = await farmHistory(deps.redis, deps.keys, deps.config, caller.client, request.query.limit);
    return {
      farms: farms.map((f) => ({
        id: f.id, status: f.status, started_at: f.startedAt, ended_at: f.endedAt, problems_before: f.problemsBefore, problems_after: f.problemsAfter,
      })),
    };
  });

  api.get('/farms/:id', {
    config: { role: 'read' },
    schema: {
      summary: 'A farm and its agents (dan farm status)',
      description: 'Per agent: its chunk, the files it holds locked, its last event, restarts and tokens. 404 while the farm has not started (GET /jobs/{id} shows it queued).',
      tags: ['farms'],
      params: jobIdParamsSchema,
      response: { 200: farmStatusSchema, ...errorResponses(400, 401, 403, 404) },
    },
  }, async (request) => {
    await visibleResult(deps, callerOf(request), request.params.id);
    return farmStatus(deps.redis, deps.keys, request.params.id);
  });

  api.post('/farms/:id/stop', {
    config: { role: 'submit' },
    schema: {
      summary: 'Stop a farm (dan farm stop)',
      description: 'Its agents stop, and what they finished is merged and reported as the job ends. 409 already_ended for a farm that ended.',
      tags: ['farms'],
      params: jobIdParamsSchema,
      response: { 202: stoppingSchema, ...errorResponses(400, 401, 403, 404, 409) },
    },
  }, async (request, reply) => {
    const id = request.params.id;
    await visibleResult(deps, callerOf(request), id);
    const stopped = await stopFarm(deps.redis, deps.keys, id);
    if (stopped.kind === 'ended') throw new ApiError('already_ended', `farm '${id}' already ended as ${stopped.status}; nothing to stop`);
    return reply.code(202).send({ id, stopping: true as const });
  });
}
