import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { API_ROLES } from '../../lib/redis/api-keys.js';
import { callerOf } from './api-auth.js';
import { ApiError, errorResponses } from './api-errors.js';

/**
 * The dashboard's page runs its own scripts and styles only, talks to this origin only and may not
 * be framed: with the key sent as a header (never a cookie), another site can neither act through
 * it nor read it. 'unsafe-inline' is absent on purpose: no markup the API returns can run.
 */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // A new build is picked up at the next load; the files are small and served from memory.
  'cache-control': 'no-cache',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
}

/**
 * Where `npm run build` put the page (dist/ui): beside the compiled server, or, when the server runs
 * from its TypeScript source (the tests), in dist/ of the same checkout.
 */
export function dashboardDir(): string | undefined {
  const candidates = ['../../ui/', '../../dist/ui/'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  // app.js marks a built page: the checkout's ui/ holds index.html too, but only the sources of the scripts.
  return candidates.find((dir) => existsSync(join(dir, 'app.js')) && existsSync(join(dir, 'index.html')));
}

/** Every file of the built page by its path under /ui/, read once: a request can only name one of them. */
export function loadDashboardAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const type = TYPES[extname(file)];
    const path = join(dir, file);
    if (type === undefined || !statSync(path).isFile()) continue;
    const body = readFileSync(path);
    assets.set(file.split('\\').join('/'), { type, body, gzip: gzipSync(body, { level: 9 }) });
  }
  return assets;
}

function send(request: FastifyRequest, reply: FastifyReply, asset: Asset): FastifyReply {
  void reply.headers(DASHBOARD_HEADERS).header('content-type', asset.type).header('vary', 'accept-encoding');
  const gzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
  return gzip ? reply.header('content-encoding', 'gzip').send(asset.gzip) : reply.send(asset.body);
}

const whoamiSchema = z.object({
  client: z.string().describe('The client whose jobs this key sends and sees'),
  role: z.enum(API_ROLES),
  key_id: z.string().nullable().describe('null while no key exists and the API answers everyone (loopback only)'),
}).meta({ id: 'WhoAmI' });

/**
 * GET / and /ui/* (the dashboard: static files, no key needed, they hold no data) and GET /whoami
 * (which client and role a key has, so the page shows only the actions that role may take).
 */
export function registerDashboardRoutes(app: FastifyInstance, options: { dir?: string } = {}): void {
  const dir = options.dir ?? dashboardDir();
  const assets = dir === undefined ? new Map<string, Asset>() : loadDashboardAssets(dir);
  const asset = (name: string): Asset => {
    const found = assets.get(name);
    if (found !== undefined) return found;
    if (assets.size === 0) throw new ApiError('not_ready', "the dashboard's files are not built: run 'npm run build', then restart dan serve");
    throw new ApiError('not_found', `no dashboard file '${name.slice(0, 200)}'; open / for the dashboard`);
  };

  app.get('/', { schema: { hide: true } }, async (request, reply) => send(request, reply, asset('index.html')));
  app.get<{ Params: { '*': string } }>('/ui/*', { schema: { hide: true } }, async (request, reply) => send(request, reply, asset(request.params['*'])));

  app.withTypeProvider<ZodTypeProvider>().get('/whoami', {
    config: { role: 'read' },
    schema: {
      summary: 'The client and role of the key sent',
      description: 'What the dashboard asks after sign-in: a read key sees no actions (the routes refuse them anyway).',
      tags: ['service'],
      response: { 200: whoamiSchema, ...errorResponses(401, 403) },
    },
  }, async (request) => {
    const caller = callerOf(request);
    return { client: caller.client, role: caller.role, key_id: caller.keyId ?? null };
  });
}
