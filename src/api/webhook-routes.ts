import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { WEBHOOK_EVENTS } from '../../lib/webhooks/webhook-rules.js';
import { addWebhook, webhookJson, webhookLogJson } from '../operations/webhooks.js';
import { WebhookStore } from '../../lib/redis/webhooks.js';
import { callerOf } from './api-auth.js';
import { ApiError, errorResponses } from './api-errors.js';
import type { ApiDeps } from './job-routes.js';

const webhookRequestSchema = z.strictObject({
  url: z.string().min(1).max(2000).describe('http:// or https:// URL that receives a POST per event'),
  events: z.array(z.enum(WEBHOOK_EVENTS)).max(WEBHOOK_EVENTS.length).optional().describe(`Which of ${WEBHOOK_EVENTS.join(', ')}; absent: all`),
}).meta({ id: 'WebhookRequest' });
const webhookFields = { id: z.string(), url: z.string(), events: z.array(z.string()), client: z.string().nullable(), created_at: z.string() };
const webhookSchema = z.object(webhookFields).meta({ id: 'Webhook' });
const webhookCreatedSchema = z.object({ ...webhookFields, secret: z.string().describe('Signs every delivery (X-Dan-Signature): shown this once') }).meta({ id: 'WebhookCreated' });
const webhookLogSchema = z.array(z.object({
  delivery: z.string(), event: z.string(), task_id: z.string(), status: z.enum(['delivered', 'retrying', 'failed']),
  attempts: z.number(), http_status: z.number().nullable(), last_error: z.string().nullable(), at: z.string(),
})).meta({ id: 'WebhookLog' });
const webhookIdParamsSchema = z.object({ id: z.string().regex(/^wh-[0-9a-f]{12}$/, { error: 'must be a webhook id as GET /webhooks lists it (wh-...)' }) });

/**
 * POST /webhooks, GET /webhooks, DELETE /webhooks/{id}, GET /webhooks/{id}/log: `dan webhooks` for an
 * admin key, over its own client's webhooks, which are told only of that client's tasks.
 */
export function registerWebhookRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const store = new WebhookStore(deps.redis, deps.keys);
  const own = async (id: string, client: string) => {
    if (await store.get(id, client) === undefined) throw new ApiError('not_found', `no webhook '${id}' for this client; GET /webhooks lists them`);
  };

  api.post('/webhooks', {
    config: { role: 'admin' },
    schema: {
      summary: "Add a webhook for the caller's client's tasks (admin)",
      description: 'Answers what dan webhooks add --json prints; the secret is in this answer only.',
      tags: ['webhooks'],
      body: webhookRequestSchema,
      response: { 201: webhookCreatedSchema, ...errorResponses(400, 401, 403, 413, 415) },
    },
  }, async (request, reply) => {
    const created = await addWebhook(store, { url: request.body.url, ...(request.body.events ? { events: request.body.events } : {}), client: callerOf(request).client });
    return reply.code(201).header('cache-control', 'no-store').send(created);
  });

  api.get('/webhooks', {
    config: { role: 'admin' },
    schema: { summary: "The caller's client's webhooks (admin)", description: 'Never their secrets.', tags: ['webhooks'], response: { 200: z.array(webhookSchema), ...errorResponses(401, 403) } },
  }, async (request) => (await store.list(callerOf(request).client)).map(webhookJson));

  api.delete('/webhooks/:id', {
    config: { role: 'admin' },
    schema: { summary: 'Remove a webhook (admin)', tags: ['webhooks'], params: webhookIdParamsSchema, response: { 204: z.null().describe('Removed'), ...errorResponses(400, 401, 403, 404) } },
  }, async (request, reply) => {
    await own(request.params.id, callerOf(request).client);
    await store.remove(request.params.id);
    return reply.code(204).send(null);
  });

  api.get('/webhooks/:id/log', {
    config: { role: 'admin' },
    schema: {
      summary: "A webhook's latest deliveries, newest first (admin)",
      description: 'Each: its event and task, delivered, retrying or failed, attempts, the receiver\'s HTTP status and the last error.',
      tags: ['webhooks'],
      params: webhookIdParamsSchema,
      response: { 200: webhookLogSchema, ...errorResponses(400, 401, 403, 404) },
    },
  }, async (request) => {
    await own(request.params.id, callerOf(request).client);
    return webhookLogJson(await store.log(request.params.id));
  });
}
