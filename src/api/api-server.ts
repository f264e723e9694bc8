import fastifySwagger from '@fastify/swagger';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import type { Config } from '../../lib/config.js';
import { redactUrl } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { ApiKeys } from '../../lib/redis/api-keys.js';
import { ApiLimits } from '../../lib/redis/api-limits.js';
import { redisAnswers } from '../../lib/redis/connection.js';
import { HeartbeatRegistry } from '../../lib/redis/heartbeat-registry.js';
import type { Keys } from '../../lib/redis/keys.js';
import { networkOverview } from '../operations/network-overview.js';
import { authenticate, checkRate, startPrefetch } from './api-auth.js';
import { ApiError, errorBody, errorBodySchema, errorResponses, toErrorReply } from './api-errors.js';
import { agentsSchema, healthSchema, readySchema } from './api-schemas.js';
import { registerDashboardRoutes } from './dashboard-routes.js';
import { registerDocsPage } from './docs-page.js';
import { ApiElf, registerElfRoutes } from './elf-routes.js';
import { registerFarmRoutes } from './farm-routes.js';
import { registerJobRoutes } from './job-routes.js';
import { registerWorkflowRoutes } from './workflow-routes.js';
import { registerKeyRoutes } from './key-routes.js';
import { registerApprovalRoutes } from './approval-routes.js';
import { registerWebhookRoutes } from './webhook-routes.js';
import { registerListRoutes } from './list-routes.js';
import { registerLogRoutes } from './log-routes.js';
import { registerJobViewRoutes } from './job-view-routes.js';
import { registerBulkRoutes } from './bulk-routes.js';
import { registerMetricsRoutes } from './metrics-routes.js';

export interface ApiServerOptions {
  redis: Redis;
  keys: Keys;
  config: Config;
  logger: Logger;
  /** Refuse requests without a key even while no key exists: set when the server listens beyond loopback. */
  requireKey?: boolean;
}

/**
 * The HTTP API over one Redis connection: it keeps no state of its own (keys, jobs and idempotency
 * all live in Redis), so several `dan serve` processes may answer for one network. Every route's
 * shapes are zod schemas, which Fastify validates with and /openapi.json is generated from.
 */
export async function buildApiServer(options: ApiServerOptions): Promise<FastifyInstance> {
  const { redis, keys, config, logger } = options;
  const apiKeys = new ApiKeys(redis, keys);
  const limits = new ApiLimits(redis, keys);
  const unreachable = () => `Redis does not answer (${redactUrl(config.redisUrl)}): start it, or check REDIS_URL of dan serve; then try again`;
  const app = Fastify({
    bodyLimit: config.api.maxBodyBytes,
    logger: false,
    // 256: a task id may be 128 characters; Fastify's default (100) would refuse long valid ids.
    routerOptions: { maxParamLength: 256 },
    // A URL the router cannot read (bad escapes, over-long segments) gets the error shape too.
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      const answer = toErrorReply(error);
      void reply.code(answer.status).send(answer.body);
    },
  });
  // JSON only: Fastify's text/plain reader would hand the schemas a string, answered 400 instead of 415.
  app.removeContentTypeParser('text/plain');
  // Who is asking is settled before the body is read: a caller without a key learns nothing of the shapes.
  app.addHook('onRequest', async (request) => {
    const role = request.routeOptions.config.role;
    if (role === undefined) return;
    // While the connection is down, say so at once rather than hold the request through reconnects.
    if (redis.status !== 'ready') throw new ApiError('redis_unreachable', unreachable());
    startPrefetch(request);
    request.caller = await authenticate(apiKeys, request, role, { requireKey: options.requireKey ?? false });
    await checkRate(limits, request.caller, config.api.ratePerMinute);
  });
  // Every keyed route may answer 429 (its key's requests per minute), so each documents it.
  app.addHook('onRoute', (route) => {
    const response = route.schema?.response as Record<number, unknown> | undefined;
    if (route.config?.role !== undefined && response !== undefined) response[429] ??= errorBodySchema;
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'dan', version: '1', description: "A distributed network of AI coding agents: send jobs, read them, cancel them. Every error is {\"error\": {\"code\", \"message\"}}." },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } } },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });

  app.setErrorHandler(async (error, request, reply) => {
    let answer = toErrorReply(error);
    // A fault that is Redis being away is said as such (503), with how to bring it back.
    if (answer.internal && !(await redisAnswers(redis))) {
      answer = { status: 503, body: errorBody('redis_unreachable', unreachable()), internal: false };
    }
    if (answer.internal) logger.error({ err: error, method: request.method, url: request.url }, 'API request failed');
    if (error instanceof ApiError && error.retryAfterSeconds !== undefined) void reply.header('retry-after', String(error.retryAfterSeconds));
    else if (answer.status === 503) void reply.header('retry-after', '5');
    return reply.code(answer.status).send(answer.body);
  });
  app.setNotFoundHandler(async (request, reply) => reply.code(404).send(errorBody('not_found', `no route ${request.method} ${request.url.split('?')[0]}; /openapi.json lists the API`)));

  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get('/health', {
    schema: { summary: 'Liveness: the process answers (no key needed)', tags: ['service'], security: [], response: { 200: healthSchema } },
  }, async () => ({ status: 'ok' as const }));

  api.get('/ready', {
    config: { role: 'read' },
    schema: { summary: 'Readiness: Redis answers and a main orchestrator is registered', tags: ['service'], response: { 200: readySchema, ...errorResponses(401, 403, 503) } },
  }, async () => {
    if (!(await redisAnswers(redis))) throw new ApiError('not_ready', 'Redis does not answer: start it, or check REDIS_URL of dan serve');
    const registry = new HeartbeatRegistry(redis, keys, config.heartbeatTtlMs);
    const main = await registry.mainAgentId();
    if (main === undefined || !(await registry.isAlive(main))) {
      throw new ApiError('not_ready', "no main orchestrator is registered: start one with 'dan up'; jobs sent now wait until it runs");
    }
    return { status: 'ready' as const, main };
  });

  api.get('/agents', {
    config: { role: 'read' },
    schema: { summary: 'The registered agents and the work waiting per domain', tags: ['network'], response: { 200: agentsSchema, ...errorResponses(401, 403) } },
  }, async () => {
    return networkOverview(redis, keys, config);
  });

  registerJobRoutes(app, { redis, keys, config });
  registerWorkflowRoutes(app, { redis, keys, config });
  registerListRoutes(app, { redis, keys, config });
  registerLogRoutes(app, { redis, keys, config, logger });
  const elf = new ApiElf({ redis, keys, config, logger });
  app.addHook('onClose', async () => elf.close());
  registerElfRoutes(app, elf);
  registerFarmRoutes(app, { redis, keys, config });
  registerKeyRoutes(app, { redis, keys, config });
  registerApprovalRoutes(app, { redis, keys, config });
  registerWebhookRoutes(app, { redis, keys, config });
  // The task page's views and the bulk actions.
  registerJobViewRoutes(app, { redis, keys, config }, elf);
  registerBulkRoutes(app, { redis, keys, config });
  // GET /metrics and GET /history (metrics-routes.ts).
  registerMetricsRoutes(app, { redis, keys, config });

  app.get('/openapi.json', { config: { role: 'read' }, schema: { hide: true } }, async () => app.swagger());
  registerDocsPage(app);
  registerDashboardRoutes(app);
  await app.ready();
  return app;
}
