import { describe, expect, it } from 'vitest';
import { roleAllows } from '../../lib/redis/api-keys.js';
import { presentedKey } from '../../src/api/api-auth.js';
import { toErrorReply } from '../../src/api/api-errors.js';
import { jobRequestSchema } from '../../src/api/api-schemas.js';
import { idempotentTaskId, taskFromRequest } from '../../src/api/job-routes.js';
import { isLoopback } from '../../src/api/serve.js';
import { DanError, InvalidInputError } from '../../lib/errors.js';
import { isValidTaskId } from '../../lib/protocol/task.js';

describe('the HTTP API on plain data', () => {
  it('orders roles read < submit < admin', () => {
    expect(roleAllows('read', 'read')).toBe(true);
    expect(roleAllows('read', 'submit')).toBe(false);
    expect(roleAllows('submit', 'read')).toBe(true);
    expect(roleAllows('submit', 'admin')).toBe(false);
    expect(roleAllows('admin', 'submit')).toBe(true);
  });

  it('lets a metrics key read /metrics and nothing else, and an admin key read /metrics too', () => {
    expect(roleAllows('metrics', 'metrics')).toBe(true);
    expect(roleAllows('admin', 'metrics')).toBe(true);
    for (const held of ['read', 'submit'] as const) expect(roleAllows(held, 'metrics'), held).toBe(false);
    for (const needed of ['read', 'submit', 'admin'] as const) expect(roleAllows('metrics', needed), needed).toBe(false);
  });

  it('reads a key from Authorization: Bearer or X-API-Key', () => {
    expect(presentedKey({ headers: { authorization: 'Bearer k1' } })).toBe('k1');
    expect(presentedKey({ headers: { authorization: 'bearer   k2 ' } })).toBe('k2');
    expect(presentedKey({ headers: { 'x-api-key': 'k3' } })).toBe('k3');
    expect(presentedKey({ headers: { authorization: 'Basic abc' } })).toBeUndefined();
    expect(presentedKey({ headers: {} })).toBeUndefined();
  });

  it('tells loopback addresses from the rest', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) expect(isLoopback(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '192.168.1.5', 'example.com']) expect(isLoopback(host), host).toBe(false);
  });

  it('derives one valid task id per client and Idempotency-Key', () => {
    const id = idempotentTaskId('acme', 'order-42');
    expect(isValidTaskId(id)).toBe(true);
    expect(idempotentTaskId('acme', 'order-42')).toBe(id);
    expect(idempotentTaskId('globex', 'order-42')).not.toBe(id);
    expect(idempotentTaskId('acme', 'order-43')).not.toBe(id);
  });

  it("turns the seed's echo body into an echo task for main, with the key's client", () => {
    const body = jobRequestSchema.parse({ job_type: 'echo', payload: { message: 'hi', client_id: 'globex' } });
    expect(taskFromRequest(body, 'acme')).toMatchObject({
      domain: 'main', type: 'echo', source: 'api', description: 'echo', extraPayload: { message: 'hi', client_id: 'globex' }, extraMetadata: { client_id: 'acme' },
    });
  });

  it("turns dan's own body into the task dan send would queue", () => {
    const body = jobRequestSchema.parse({ domain: 'backend', description: 'Add /health', priority: 'high', timeout_seconds: 60, max_attempts: 2, context: { path: 'src' }, requirements: ['tested'] });
    expect(taskFromRequest(body, 'acme')).toEqual({
      domain: 'backend', description: 'Add /health', type: 'task_assignment', source: 'api', requirements: ['tested'], context: { path: 'src' },
      priority: 'high', timeoutSeconds: 60, extraMetadata: { client_id: 'acme', max_attempts: 2 },
    });
  });

  it('refuses bodies without a description, with a client_id, or with another job type', () => {
    expect(jobRequestSchema.safeParse({ domain: 'backend' }).success).toBe(false);
    expect(jobRequestSchema.safeParse({ description: 'x', client_id: 'globex' }).success).toBe(false);
    expect(jobRequestSchema.safeParse({ job_type: 'shell', payload: {} }).success).toBe(false);
    expect(jobRequestSchema.safeParse({ description: 'x', payload: {} }).success).toBe(false);
  });

  it('answers errors by code, and anything unknown as a 500 internal without its message', () => {
    expect(toErrorReply(new InvalidInputError('bad')).status).toBe(400);
    expect(toErrorReply(new DanError('unknown_domain', 'x')).status).toBe(422);
    expect(toErrorReply(new DanError('queue_full', 'x')).status).toBe(503);
    const internal = toErrorReply(new Error('secret detail'));
    expect(internal).toMatchObject({ status: 500, internal: true, body: { error: { code: 'internal' } } });
    expect(JSON.stringify(internal.body)).not.toContain('secret detail');
  });
});
