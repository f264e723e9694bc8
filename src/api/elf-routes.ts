import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { ElfClient } from '../../lib/elf/elf-client.js';
import type { Logger } from '../../lib/logger.js';
import { DOMAIN_NAME_PATTERN } from '../../lib/protocol/agent.js';
import { connectRedis } from '../../lib/redis/connection.js';
import type { ElfCall } from '../operations/elf-queries.js';
import { elfCall, elfGolden, elfHeuristics, elfHotspots, elfSearch, elfStats } from '../operations/elf-queries.js';
import { callerOf } from './api-auth.js';
import { errorResponses } from './api-errors.js';
import type { ApiDeps } from './job-routes.js';

/*
 * GET /elf/...: the caller's client's ELF memory, read-only, answering what `dan elf <command> --json`
 * prints. The client is the key's, never the query's (the CLI's --client). The memory answers over
 * Redis; when no ELF process answers within DAN_ELF_TIMEOUT_MS the route answers 503 elf_not_running.
 * Every field of the memory's answers is listed (lib/elf/elf-types.ts): the serializer drops fields a schema lacks.
 */

const heuristicSchema = z.object({
  id: z.number(), domain: z.string(), rule: z.string(), context: z.string(), source: z.string(), origin: z.string(),
  state: z.string().describe('approved, or candidate (proposed by a model or a postmortem, never injected until approved)'),
  confidence: z.number(), validations: z.number(), violations: z.number(), contradictions: z.number(), golden: z.boolean(), dormant: z.boolean(),
  createdAt: z.string(), lastUsedAt: z.string(), lastUpdatedAt: z.string().nullable(),
}).meta({ id: 'Heuristic' });

const statsSchema = z.object({
  client_id: z.string(),
  outcomes: z.object({ total: z.number(), byStatus: z.record(z.string(), z.number()) }),
  heuristics: z.number(), golden: z.number(), dormant: z.number(), trails: z.number(), injections: z.number(), plans: z.number(), postmortems: z.number(),
  databaseBytes: z.number(),
}).meta({ id: 'ElfStats' });

const searchSchema = z.object({
  heuristics: z.array(z.object({ heuristic: heuristicSchema, score: z.number() })),
  outcomes: z.array(z.object({
    outcome: z.object({
      taskId: z.string(), parentId: z.string().nullable(), domain: z.string(), status: z.string(), workers: z.array(z.string()), durationMs: z.number().nullable(),
      filesCreated: z.array(z.string()), filesModified: z.array(z.string()), filesRead: z.array(z.string()), error: z.string().nullable(),
      inputTokens: z.number().nullable(), outputTokens: z.number().nullable(), description: z.string(), finishedAt: z.string(),
    }),
    score: z.number(),
  })),
}).meta({ id: 'ElfSearch' });

const hotspotSchema = z.object({ file: z.string(), strength: z.number(), deposits: z.number(), recentFailures: z.number(), lastDepositAt: z.string() }).meta({ id: 'Hotspot' });

// An empty parameter (`?domain=&all=`, as a form sends it) is the same as none.
const booleanText = z.enum(['true', 'false', '1', '0', '']).transform((v) => v === 'true' || v === '1');
const domainText = z.string().regex(new RegExp(`${DOMAIN_NAME_PATTERN.source}|^\\*$|^$`), { error: "must be a domain name such as backend, or '*' (the rules for every domain)" })
  .transform((v) => (v === '' ? undefined : v));
const filters = {
  domain: domainText.optional().describe('Only this domain'),
  limit: z.coerce.number().int().min(1).max(500).optional().describe('At most this many, 1 to 500'),
};
const heuristicsQuery = z.strictObject({
  ...filters,
  all: booleanText.optional().describe('true: dormant heuristics too (confidence below 0.2)'),
  candidates: booleanText.optional().describe('true: only lessons proposed by models or postmortems, not yet approved'),
});
const searchQuery = z.strictObject({ q: z.string().trim().min(1).max(2_000).describe('What to look for'), ...filters });
const hotspotsQuery = z.strictObject({ ...filters, repository: z.string().max(1_000).optional().describe("Only this repository's trails (a task's context.path or context.workspace; empty for tasks that named none)") });

/**
 * The API's one connection to the memory: opened at the first ELF request, closed with the server.
 * `call(client)` is what any route that asks the memory uses (the client is always the caller's).
 */
export class ApiElf {
  private opened: Promise<{ client: ElfClient; subscriber: Redis }> | undefined;

  constructor(private readonly deps: ApiDeps & { logger: Logger }) {}

  async call(clientId: string): Promise<ElfCall> {
    this.opened ??= this.open();
    let client: ElfClient;
    try {
      client = (await this.opened).client;
    } catch (error) {
      // The next request tries again rather than keep a connection that never came up.
      this.opened = undefined;
      throw error;
    }
    return elfCall(client, clientId, this.deps.config.elf.timeoutMs);
  }

  private async open(): Promise<{ client: ElfClient; subscriber: Redis }> {
    const { config, logger, redis, keys } = this.deps;
    const subscriber = await connectRedis(config.redisUrl, { name: 'dan-serve:elf-replies', failFast: true, blocking: true, logger, connectTimeoutMs: 3_000 });
    return { client: new ElfClient(redis, subscriber, keys, `api-${process.pid}-${randomBytes(4).toString('hex')}`, config.elf.timeoutMs), subscriber };
  }

  async close(): Promise<void> {
    const opened = this.opened;
    this.opened = undefined;
    if (opened === undefined) return;
    try {
      const { client, subscriber } = await opened;
      client.close();
      subscriber.disconnect();
    } catch {
      // It never connected: nothing to close.
    }
  }
}

/** GET /elf/stats, /elf/heuristics, /elf/golden-rules, /elf/search, /elf/hotspots. */
export function registerElfRoutes(app: FastifyInstance, elf: ApiElf): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const errors = errorResponses(400, 401, 403, 503);
  const memoryOf = (request: Parameters<typeof callerOf>[0]) => elf.call(callerOf(request).client);

  api.get('/elf/stats', {
    config: { role: 'read' },
    schema: { summary: "Counts of the caller's memory (dan elf stats)", tags: ['memory'], querystring: z.strictObject({}), response: { 200: statsSchema, ...errors } },
  }, async (request) => elfStats(await memoryOf(request)));

  api.get('/elf/heuristics', {
    config: { role: 'read' },
    schema: { summary: 'Heuristics with their confidence (dan elf heuristics)', tags: ['memory'], querystring: heuristicsQuery, response: { 200: z.array(heuristicSchema), ...errors } },
  }, async (request) => elfHeuristics(await memoryOf(request), request.query));

  api.get('/elf/golden-rules', {
    config: { role: 'read' },
    schema: { summary: 'Golden rules: confidence >= 0.9, validated at least 10 times (dan elf golden)', tags: ['memory'], querystring: z.strictObject(filters), response: { 200: z.array(heuristicSchema), ...errors } },
  }, async (request) => elfGolden(await memoryOf(request), request.query));

  api.get('/elf/search', {
    config: { role: 'read' },
    schema: { summary: 'Full-text search over heuristics and past tasks (dan elf search)', tags: ['memory'], querystring: searchQuery, response: { 200: searchSchema, ...errors } },
  }, async (request) => elfSearch(await memoryOf(request), request.query.q, request.query));

  api.get('/elf/hotspots', {
    config: { role: 'read' },
    schema: { summary: 'Files ranked by trail strength (dan elf hotspots)', tags: ['memory'], querystring: hotspotsQuery, response: { 200: z.array(hotspotSchema), ...errors } },
  }, async (request) => elfHotspots(await memoryOf(request), request.query));
}
