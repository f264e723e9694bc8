import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { elfInjections } from '../operations/elf-queries.js';
import { taskDiffs } from '../operations/task-diff.js';
import { taskTimeline } from '../operations/task-timeline.js';
import { callerOf } from './api-auth.js';
import { ApiError, errorResponses } from './api-errors.js';
import type { ApiElf } from './elf-routes.js';
import { jobIdParamsSchema } from './api-schemas.js';
import type { ApiDeps } from './job-routes.js';
import { ownerOf, visibleResult } from './job-routes.js';
import { jobDiffQuerySchema, jobDiffSchema, jobLessonsSchema, timelineSchema } from './job-view-schemas.js';

/** GET /jobs/{id}/diff, /lessons and /timeline: the task page's views of one job the caller may see. */
export function registerJobViewRoutes(app: FastifyInstance, deps: ApiDeps, elf: ApiElf): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { redis, keys } = deps;
  api.get('/jobs/:id/diff', {
    config: { role: 'read' },
    schema: {
      summary: "A job's changes",
      description: "The diff from the commit it started on to its work on branch dan/<id>, as `dan diff <id> --json` prints it; a routed job's sub-tasks' branches, in the order they ran. 404 while it has no branch (not ended, or its workspace was not a git repository).",
      tags: ['jobs'],
      params: jobIdParamsSchema,
      querystring: jobDiffQuerySchema,
      response: { 200: jobDiffSchema, ...errorResponses(400, 401, 403, 404) },
    },
  }, async (request) => {
    const result = await visibleResult(deps, callerOf(request), request.params.id);
    return taskDiffs(redis, keys, result, {
      stat: request.query.stat === 'true',
      missingRepository: (repository, taskId) => new ApiError('not_found', `the repository ${repository} of task ${taskId} is not on the machine dan serve runs on: run 'dan diff ${taskId} --repo DIR' where it is`),
    });
  });

  api.get('/jobs/:id/lessons', {
    config: { role: 'read' },
    schema: {
      summary: 'The ELF lessons its workers were given',
      description: "The exact memory text each worker of the job was given and the heuristics in it, as `dan elf injections <id> --json` prints it, from the memory of the job's client. 503 elf_not_running when no ELF memory answers.",
      tags: ['jobs'],
      params: jobIdParamsSchema,
      response: { 200: jobLessonsSchema, ...errorResponses(400, 401, 403, 404, 503) },
    },
  }, async (request) => {
    const result = await visibleResult(deps, callerOf(request), request.params.id);
    // The job's client's memory: the one its workers were given lessons from (an admin may read another client's job).
    return elfInjections(await elf.call(ownerOf(result)), result.taskId);
  });

  api.get('/jobs/:id/timeline', {
    config: { role: 'read' },
    schema: {
      summary: 'Where the time went',
      description: "The job's attempts, sub-tasks, its workers' model and tool calls, checks and reviews, as spans ordered by start. Built from what was recorded: an end or duration no record holds (a call still running, an attempt whose end was not kept) is null.",
      tags: ['jobs'],
      params: jobIdParamsSchema,
      response: { 200: timelineSchema, ...errorResponses(400, 401, 403, 404) },
    },
  }, async (request) => taskTimeline(redis, keys, await visibleResult(deps, callerOf(request), request.params.id)));
}
