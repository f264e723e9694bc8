import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { InvalidInputError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { readResultStatus } from '../../lib/redis/result-fields.js';
import type { LogLine } from '../cli/log-lines.js';
import type { LogPositions } from '../operations/task-logs.js';
import { taskLogFollower } from '../operations/task-logs.js';
import { callerOf } from './api-auth.js';
import { errorBody, errorResponses, toErrorReply } from './api-errors.js';
import { jobIdParamsSchema } from './api-schemas.js';
import type { ApiDeps } from './job-routes.js';
import { seedStatus, visibleResult } from './job-routes.js';

/** The log streams a server has open; each one's follower has stopped once it is no longer counted. */
export interface LogStreams {
  readonly open: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** `GET /jobs/{id}/logs` streams being answered now. */
    logStreams: LogStreams;
  }
}

const logsQuerySchema = z.object({
  follow: z.enum(['true', 'false'], { error: "must be 'true' (the default: follow until the job ends) or 'false' (the lines so far, then close)" }).optional()
    .describe("'false': send the lines written so far and the job's status, then close"),
});

const logsHeadersSchema = z.looseObject({
  'last-event-id': z.string().max(4096).optional()
    .describe('The id of the last event received: the stream resumes after it instead of replaying from the start'),
});

/** Less than the 60 s after which common proxies close a connection that sent nothing. */
const KEEP_ALIVE_MS = 15_000;

const POSITIONS = /^\d+(,[^,=\s]+=\d+)*$/;

/**
 * An event id: how many lines of each list were sent, the job's own count first, then
 * `{domain}={count}` for each sub-task (`{id}-{domain}`) that has lines, such as `12,backend=3`.
 */
export function encodePositions(taskId: string, positions: LogPositions): string {
  const children = [...positions].filter(([id, count]) => id.startsWith(`${taskId}-`) && count > 0)
    .map(([id, count]) => `${id.slice(taskId.length + 1)}=${count}`).sort();
  return [String(positions.get(taskId) ?? 0), ...children].join(',');
}

/** The positions a `Last-Event-ID` names; nothing sent yet without one. */
export function decodePositions(taskId: string, eventId: string | undefined): Map<string, number> {
  const positions = new Map<string, number>();
  if (eventId === undefined || eventId.trim() === '') return positions;
  if (!POSITIONS.test(eventId.trim())) {
    throw new InvalidInputError(`Last-Event-ID '${eventId.slice(0, 80)}' is not an id this stream sends (such as '12' or '12,backend=3'); leave it out to replay from the start`);
  }
  const [own, ...children] = eventId.trim().split(',');
  positions.set(taskId, Number(own));
  for (const child of children) {
    const [domain, count] = child.split('=') as [string, string];
    positions.set(`${taskId}-${domain}`, Number(count));
  }
  return positions;
}

function event(name: string, data: unknown, id?: string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

function logData(line: LogLine): Record<string, unknown> {
  return { task_id: line.taskId ?? null, agent: line.agentId || null, domain: line.domain || null, time: line.time > 0 ? new Date(line.time).toISOString() : null, line: line.line };
}

/** GET /jobs/{id}/logs: the job's log lines and its sub-tasks' as Server-Sent Events. */
export function registerLogRoutes(app: FastifyInstance, deps: ApiDeps & { logger: Logger }): void {
  const streams = new Set<AbortController>();
  app.decorate('logStreams', { get open() { return streams.size; } });
  // A server that closes ends its streams first, instead of waiting for jobs to end.
  app.addHook('preClose', async () => { for (const stop of streams) stop.abort(); });

  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get('/jobs/:id/logs', {
    config: { role: 'read' },
    schema: {
      summary: "Follow a job's log (Server-Sent Events)",
      description: [
        "text/event-stream. Replays the job's log lines from the start, then follows new lines of the job and its sub-tasks until it ends.",
        "Each line is an `event: log` whose data is {task_id, agent, domain, time, line}; the last event is `event: end` with {id, status, dan_status}, then the stream closes.",
        "A failure while following is an `event: error` with the error shape. Send `Last-Event-ID` to resume after an event instead of from the start.",
      ].join(' '),
      tags: ['jobs'],
      params: jobIdParamsSchema,
      querystring: logsQuerySchema,
      headers: logsHeadersSchema,
      response: {
        200: { description: 'The event stream', content: { 'text/event-stream': { schema: z.string().describe('`event: log` events, then `event: end`') } } },
        ...errorResponses(400, 401, 403, 404),
      },
    },
  }, async (request, reply) => {
    const id = request.params.id;
    await visibleResult(deps, callerOf(request), id);
    const from = decodePositions(id, request.headers['last-event-id']);
    const follower = taskLogFollower(deps.redis, deps.keys, id, from);
    const sent = new Map(from);
    const stop = new AbortController();
    streams.add(stop);
    reply.hijack();
    const raw = reply.raw;
    const write = (text: string): void => { if (!raw.destroyed && !raw.writableEnded) raw.write(text); };
    const onClose = (): void => stop.abort();
    raw.on('close', onClose);
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    // A comment line now and then while the job is quiet, so proxies do not close the stream as idle.
    const keepAlive = setInterval(() => write(': keep-alive\n\n'), KEEP_ALIVE_MS);
    const send = (line: LogLine): void => {
      const list = line.taskId ?? id;
      sent.set(list, (sent.get(list) ?? 0) + 1);
      write(event('log', logData(line), encodePositions(id, sent)));
    };
    try {
      if (request.query.follow === 'false') (await follower.recent(Number.MAX_SAFE_INTEGER, () => true)).forEach(send);
      else await follower.follow(stop.signal, send);
      if (!stop.signal.aborted) {
        const status = (await readResultStatus(deps.redis, deps.keys, id)) ?? 'pending';
        write(event('end', { id, status: seedStatus(status), dan_status: status }));
      }
    } catch (error) {
      const answer = toErrorReply(error);
      if (answer.internal) deps.logger.error({ err: error, url: request.url }, 'log stream failed');
      write(event('error', answer.internal ? errorBody('internal', 'following the log failed on our side; the server log has the cause; reconnect with Last-Event-ID to go on') : answer.body));
    } finally {
      clearInterval(keepAlive);
      raw.off('close', onClose);
      stop.abort();
      streams.delete(stop);
      raw.end();
    }
    return reply;
  });
}
