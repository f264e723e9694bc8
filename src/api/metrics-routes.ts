import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HeartbeatRegistry } from '../../lib/redis/heartbeat-registry.js';
import { HISTORY_WINDOW_NAMES } from '../../lib/redis/metric-buckets.js';
import { renderMetrics } from '../metrics/prometheus-metrics.js';
import { metricsSnapshot } from '../operations/metrics-snapshot.js';
import { taskHistory } from '../operations/task-history.js';
import { COST_GROUPS, costReport } from '../operations/cost-report.js';
import { callerOf, mayActForAll } from './api-auth.js';
import { errorResponses } from './api-errors.js';
import type { ApiDeps } from './job-routes.js';

const historyQuerySchema = z.object({
  window: z.enum(HISTORY_WINDOW_NAMES).default('24h').describe('24h: 24 one-hour buckets; 7d: 28 six-hour buckets'),
});

const historySchema = z.object({
  window: z.enum(HISTORY_WINDOW_NAMES),
  bucket_seconds: z.number(),
  domains: z.record(z.string(), z.array(z.object({
    start: z.string().describe('Start of the bucket (ISO 8601)'),
    completed: z.number(),
    failed: z.number().describe('Failed tasks, cancelled and dead-lettered ones included'),
    p95_ms: z.number().nullable().describe('95th percentile run time, estimated from fixed duration buckets; null when no started task ended in it'),
  }))).describe("Every domain that ended a task of the caller's client in the window (of any client for an admin key), each with every bucket, oldest first"),
}).meta({ id: 'History' });

const costQuerySchema = z.object({
  since: z.string().max(40).optional().describe('A UTC day (2026-12-01) or a span back from now (7d, 24h); default: today'),
  by: z.enum(COST_GROUPS).default('domain').describe('What each line is'),
});

const costLineSchema = z.object({
  usd: z.number().describe('Dollars of the priced calls'),
  calls: z.number(),
  unpriced_calls: z.number().describe('Calls to models the price table does not list: their cost is unknown and not in usd'),
});

const costSchema = z.object({
  since: z.string(), until: z.string(), by: z.enum(COST_GROUPS),
  client: z.string().nullable().describe("The caller's client; null for an admin key, which sees every client's"),
  total: costLineSchema,
  lines: z.array(costLineSchema.extend({ key: z.string().describe('The domain, client, model or day') })),
}).meta({ id: 'CostReport' });

/**
 * GET /metrics (Prometheus' text format: the whole network's numbers, every client's backlogs and
 * counts, for its operators) and GET /history (the caller's client's tasks), read from Redis on each
 * request, so every `dan serve` answers the same. /metrics takes an admin key or a `metrics` key
 * (Prometheus' scrape credential), never a client's read key; /history takes role read.
 */
export function registerMetricsRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { redis, keys, config } = deps;
  // One for the server's life: each HeartbeatRegistry keeps a listener on the connection.
  const registry = new HeartbeatRegistry(redis, keys, config.heartbeatTtlMs);

  api.get('/metrics', {
    config: { role: 'metrics' },
    schema: {
      summary: "The network's metrics in Prometheus' text format",
      description: "Queue depth per domain and state, tasks finished, task and model-call durations, agents and their heartbeat age, spawns, tokens and dead letters, of the whole network (every client); README lists each. Needs an admin key or a key of role metrics ('dan keys create --client ops --role metrics', for Prometheus' authorization); a read or submit key gets 403.",
      tags: ['service'],
      produces: ['text/plain'],
      response: { 200: z.string().describe('Prometheus text exposition format 0.0.4'), ...errorResponses(401, 403, 503) },
    },
  }, async (_request, reply) => {
    const { contentType, text } = await renderMetrics(() => metricsSnapshot(redis, keys, config, registry));
    // Sent as it is: the JSON serializer would quote it.
    return reply.type(contentType).serializer((payload: unknown) => String(payload)).send(text);
  });

  api.get('/cost', {
    config: { role: 'read' },
    schema: {
      summary: 'What model calls cost, grouped by domain, client, model or day',
      description: "From the day counters the model gateway writes with each call (kept 400 days), as `dan cost` answers. The caller's client's calls; an admin key's: every client's.",
      tags: ['service'],
      querystring: costQuerySchema,
      response: { 200: costSchema, ...errorResponses(400, 401, 403) },
    },
  }, async (request) => {
    const caller = callerOf(request);
    return costReport(redis, keys, { since: request.query.since, by: request.query.by, client: mayActForAll(caller) ? undefined : caller.client });
  });

  api.get('/history', {
    config: { role: 'read' },
    schema: {
      summary: 'Throughput, failures and p95 run time per domain over the last 24 hours or 7 days',
      description: "Kept in Redis in expiring hourly buckets by the step that ends every task, so it survives restarts of every dan process. The caller's client's tasks; an admin key's: every client's.",
      tags: ['service'],
      querystring: historyQuerySchema,
      response: { 200: historySchema, ...errorResponses(400, 401, 403) },
    },
  }, async (request) => {
    const caller = callerOf(request);
    return taskHistory(redis, keys, request.query.window, mayActForAll(caller) ? undefined : caller.client);
  });
}
