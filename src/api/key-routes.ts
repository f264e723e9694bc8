import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { API_ROLES, ApiKeys } from '../../lib/redis/api-keys.js';
import { apiKeyJson, createApiKey } from '../operations/api-key-access.js';
import { callerOf } from './api-auth.js';
import { ApiError, errorResponses } from './api-errors.js';
import type { ApiDeps } from './job-routes.js';

const limit = (what: string) => z.number().int().min(0).optional().describe(`${what} (0: no limit; absent: the server's setting)`);

const keyRequestSchema = z.strictObject({
  role: z.enum(API_ROLES, { error: `must be one of ${API_ROLES.join(', ')}` }).describe("read: GETs; submit: also send and cancel jobs; admin: everything; metrics: only GET /metrics (Prometheus' scrape credential)"),
  rpm: limit('Requests per minute the key may make; default DAN_API_RATE_PER_MINUTE'),
  max_in_flight: limit('Jobs of the key not yet ended; default DAN_API_MAX_IN_FLIGHT'),
}).meta({ id: 'KeyRequest' });

const keyFields = { id: z.string(), client: z.string(), role: z.enum(API_ROLES), rpm: z.number().nullable(), max_in_flight: z.number().nullable() };
const keyCreatedSchema = z.object({ ...keyFields, key: z.string().describe('The key: shown this once, only its hash is kept') }).meta({ id: 'KeyCreated' });
const keySchema = z.object({ ...keyFields, created_at: z.string() }).meta({ id: 'Key' });
const keyIdParamsSchema = z.object({ id: z.string().regex(/^[0-9a-fA-F]{4,64}$/, { error: 'must be a key id as GET /keys lists it (at least 4 hex digits)' }) });

/**
 * POST /keys, GET /keys, DELETE /keys/{id}: `dan keys create|list|revoke` for an admin key, over its own
 * client's keys only (the client of a new key is the admin key's, as a job's is).
 */
export function registerKeyRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const keys = new ApiKeys(deps.redis, deps.keys);

  api.post('/keys', {
    config: { role: 'admin' },
    schema: {
      summary: "Make a key for the caller's client (admin)",
      description: 'Answers what dan keys create --json prints; the key is in this answer only.',
      tags: ['keys'],
      body: keyRequestSchema,
      response: { 201: keyCreatedSchema, ...errorResponses(400, 401, 403, 413, 415) },
    },
  }, async (request, reply) => {
    const { role, rpm, max_in_flight: maxInFlight } = request.body;
    const limits = { ...(rpm !== undefined ? { ratePerMinute: rpm } : {}), ...(maxInFlight !== undefined ? { maxInFlight } : {}) };
    const created = await createApiKey(keys, deps.config, callerOf(request).client, role, limits);
    return reply.code(201).header('cache-control', 'no-store').send(created);
  });

  api.get('/keys', {
    config: { role: 'admin' },
    schema: {
      summary: "The caller's client's keys, oldest first (admin)",
      description: 'What dan keys list --json prints, for this client: never the keys themselves.',
      tags: ['keys'],
      response: { 200: z.array(keySchema), ...errorResponses(401, 403) },
    },
  }, async (request) => {
    const client = callerOf(request).client;
    return (await keys.list()).filter((k) => k.client === client).map(apiKeyJson);
  });

  api.delete('/keys/:id', {
    config: { role: 'admin' },
    schema: {
      summary: "Revoke one of the caller's client's keys (admin)",
      description: "Its next request gets 401, on every dan serve. The id may be the start of one; another client's key answers 404.",
      tags: ['keys'],
      params: keyIdParamsSchema,
      response: { 204: z.null().describe('Revoked'), ...errorResponses(400, 401, 403, 404) },
    },
  }, async (request, reply) => {
    const revoked = await keys.revoke(request.params.id, { client: callerOf(request).client });
    if (revoked === undefined) throw new ApiError('not_found', `no key with id '${request.params.id}' for this client; GET /keys lists them`);
    return reply.code(204).send(null);
  });
}
