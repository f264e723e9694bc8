import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DanError } from '../../errors.js';
import type { StreamEvent } from './build-response.js';

/** 32 MiB: the real API's request limit; larger bodies get 413 instead of filling memory. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

/**
 * The body as text, or `undefined` as soon as it is known to be larger than `maxBytes` (from its
 * Content-Length, or once that much has arrived): the rest is not read, so an unauthenticated client
 * cannot make the server hold more than `maxBytes` of one request. Answer it 413 with
 * `connection: close`.
 */
export async function readBody(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<string | undefined> {
  return (await readBodyBytes(req, maxBytes))?.toString('utf8');
}

/** The body as bytes, bounded as readBody's: the model gateway forwards them as read, after the rate limit and the budgets have seen them. */
export function readBodyBytes(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<Buffer | undefined> {
  return new Promise<Buffer | undefined>((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      req.pause();
      resolve(undefined);
      return;
    }
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData);
        req.pause();
        parts.length = 0;
        resolve(undefined);
        return;
      }
      parts.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(parts)));
    req.once('error', reject);
  });
}

/** A JSON answer with its length set, so keep-alive clients know where it ends. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** An error in the shape the Anthropic API and its SDKs use: `{type: "error", error: {type, message}}`. */
export function sendApiError(res: ServerResponse, status: number, type: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { type: 'error', error: { type, message } }, headers);
}

/** Writes a whole event stream; stops early when the client went away. */
export function sendEvents(res: ServerResponse, events: readonly StreamEvent[], headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', ...headers });
  for (const { event, data } of events) {
    if (res.destroyed) return;
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }
  res.end();
}

/** Header values to keep in a recording: secrets replaced, arrays joined. */
export function redactedHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    kept[name] = SECRET_HEADERS.has(name) ? '[redacted]' : Array.isArray(value) ? value.join(', ') : value;
  }
  return kept;
}

const SECRET_HEADERS = new Set(['x-api-key', 'authorization', 'proxy-authorization', 'cookie']);

/** The URL clients use to reach a server bound to `host`; wildcard binds are reached on loopback. */
export function baseUrl(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return `http://127.0.0.1:${port}`;
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

/**
 * Starts `server` on host:port and gives the URL clients use. A port in use is a DanError naming
 * `portFix`, the setting or flag that picks another; other listen errors pass through as they are.
 */
export async function listenOn(server: Server, host: string, port: number, portFix: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE'
        ? new DanError('port_in_use', `port ${port} on ${host} is in use: ${portFix}`, { cause: error })
        : error);
    });
    server.listen(port, host, () => resolve());
  });
  return baseUrl(host, (server.address() as AddressInfo).port);
}

/** Closes the listener and every open connection (keep-alive and streaming clients included). */
export async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** The token a request bears: `x-api-key` (the SDK, the CLI) or `Authorization: Bearer`. */
export function bearerToken(headers: IncomingMessage['headers']): string | undefined {
  const key = headers['x-api-key'];
  if (typeof key === 'string' && key !== '') return key;
  const auth = headers.authorization;
  const match = typeof auth === 'string' ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
  return match?.[1];
}
