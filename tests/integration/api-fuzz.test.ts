import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeededRandom } from '../../src/chaos/seeded-random.js';
import type { TestApi } from '../support/api.js';
import { startTestApi } from '../support/api.js';

/** The request a fuzz round sends; `why` names the generator, for a failure's message. */
interface BadRequest {
  why: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  url: string;
  headers: Record<string, string>;
  payload?: string;
}

const SEED = 16_016;
const ROUNDS = 1_200;

const ALPHABET = 'abcXYZ019_-.:/ %{}"\'\\\u0000\u00e9\u4e2d';

function randomText(random: SeededRandom, max: number): string {
  let text = '';
  for (let i = random.int(0, max); i > 0; i--) text += random.pick([...ALPHABET]);
  return text;
}

/** A value of any JSON type but `keep`'s, for fields given the wrong type. */
function wrongValue(random: SeededRandom, keep: string): unknown {
  const values: Array<[string, unknown]> = [['string', randomText(random, 8)], ['number', random.int(-5, 5) * 1.5], ['boolean', true], ['object', { a: 1 }], ['array', [1, 'x']], ['null', null]];
  return random.pick(values.filter(([type]) => type !== keep))[1];
}

/** A body `POST /jobs` must refuse: one valid job, then one thing made wrong. */
function badJobBody(random: SeededRandom): { why: string; body: string } {
  const valid: Record<string, unknown> = random.next() < 0.5
    ? { job_type: 'echo', payload: { message: randomText(random, 10) } }
    : { domain: 'backend', description: `do ${randomText(random, 10)}`, priority: 'normal', timeout_seconds: 60 };
  const mutations: Array<[string, () => unknown]> = [
    ['timeout wrong', () => ({ ...valid, timeout_seconds: random.pick([-1, 0, 1e9, 'soon', null, [60]]) })],
    ['attempts wrong', () => ({ ...valid, max_attempts: random.pick([0, -3, 1.5, 21, 1000, '3']) })],
    ['priority wrong', () => ({ ...valid, priority: random.pick(['urgent', 'HIGHEST', '', 3, null]) })],
    ['requirements wrong', () => ({ ...valid, requirements: random.pick(['tested', [1, 2], { a: 'b' }, [null]]) })],
    ['context wrong', () => ({ ...valid, context: wrongValue(random, 'object') })],
    ['description wrong', () => ({ domain: 'backend', description: random.pick([5, '', '   ', null, ['x']]) })],
    ['domain malformed', () => ({ ...valid, domain: random.pick(['Back End', '../x', 'x:y', '', '-a', 'a'.repeat(50), randomText(random, 6) + ' ']) })],
    ['domain unknown', () => ({ ...valid, domain: `zz${randomText(random, 0)}${random.int(0, 1e6)}` })],
    ['unknown field', () => ({ ...valid, [random.pick(['client_id', 'metadata', 'task_id', 'type', 'x'])]: randomText(random, 5) })],
    ['job type unknown', () => ({ job_type: random.pick(['sleep', 'ECHO', '', 'shell', 7]), payload: {} })],
    ['payload without echo', () => ({ domain: 'backend', description: 'x', payload: { a: 1 } })],
    ['payload wrong', () => ({ job_type: 'echo', payload: wrongValue(random, 'object') })],
    ['not an object', () => wrongValue(random, 'object')],
    ['description too large', () => ({ domain: 'backend', description: 'x'.repeat(65 * 1024 + random.int(0, 1000)) })],
  ];
  const [why, make] = random.pick(mutations);
  if (random.next() < 0.15) {
    // Text that is not JSON: a valid body cut short, or with a stray character inside.
    const text = JSON.stringify(valid);
    const cut = random.next() < 0.5 ? text.slice(0, random.int(1, text.length - 1)) : `${text.slice(0, random.int(1, text.length - 1))}${random.pick(['\u0000', '}', ',', "'"])}${text.slice(1)}`;
    let parses = true;
    try { JSON.parse(cut); } catch { parses = false; }
    if (!parses) return { why: 'not JSON', body: cut };
  }
  return { why, body: JSON.stringify(make()) };
}

/** A path segment the task id rule refuses, or a valid id no job has. */
function badId(random: SeededRandom): string {
  return random.pick([
    () => encodeURIComponent(`.${randomText(random, 5)}`),
    () => encodeURIComponent(`-x${random.int(0, 99)}`),
    () => encodeURIComponent(`x:logs${random.int(0, 9)}`),
    () => encodeURIComponent(`a b ${random.int(0, 9)}`),
    () => 'x'.repeat(129 + random.int(0, 50)),
    () => `%00${random.int(0, 9)}`,
    () => `missing-${random.int(0, 1e9)}`,
    () => encodeURIComponent('\u4e2d\u6587'),
  ])();
}

describe('the HTTP API under bad requests', () => {
  let api: TestApi;
  beforeAll(async () => { api = await startTestApi({ env: { DAN_API_MAX_BODY_BYTES: String(128 * 1024) } }); });
  afterAll(async () => api.close());

  it(`answers ${ROUNDS} generated bad requests (seed ${SEED}) with 4xx and the error shape, stays up, and writes nothing`, async () => {
    const acme = await api.key('acme');
    const reader = await api.key('acme', 'read');
    const globex = await api.key('globex');
    const admin = await api.key('acme', 'admin');
    const globexAdmin = await api.key('globex', 'admin');
    const json = { 'content-type': 'application/json' };
    const theirs = (await api.app.inject({ method: 'POST', url: '/jobs', headers: { ...json, ...globex.headers }, payload: '{"job_type":"echo","payload":{}}' })).json().id as string;
    const theirFarm = (await api.app.inject({ method: 'POST', url: '/farms', headers: { ...json, ...globex.headers }, payload: '{"path":"shop","problems_command":"npm run lint"}' })).json().id as string;
    const keysBefore = await api.keyCount();
    const random = new SeededRandom(SEED);
    const auths: Array<[string, Record<string, string>]> = [
      ['no key', {}], ['unknown key', { authorization: `Bearer dan-api-${randomText(random, 20)}` }],
      ['malformed header', { authorization: random.pick(['Basic abc', 'Bearer', 'bearer  ']) }], ['empty x-api-key', { 'x-api-key': ' ' }],
    ];
    const generators: Array<() => BadRequest> = [
      () => { const { why, body } = badJobBody(random); return { why: `POST /jobs: ${why}`, method: 'POST', url: '/jobs', headers: { ...json, ...acme.headers }, payload: body }; },
      () => { const { why, body } = badJobBody(random); return { why: `POST /jobs with Idempotency-Key: ${why}`, method: 'POST', url: '/jobs', headers: { ...json, ...acme.headers, 'idempotency-key': `k${random.int(0, 1e6)}` }, payload: body }; },
      () => ({ why: 'POST /jobs: bad Idempotency-Key', method: 'POST', url: '/jobs', headers: { ...json, ...acme.headers, 'idempotency-key': random.pick(['has space', 'x'.repeat(300), '\t']) }, payload: '{"job_type":"echo","payload":{}}' }),
      () => ({ why: 'POST /jobs: too large', method: 'POST', url: '/jobs', headers: { ...json, ...acme.headers }, payload: JSON.stringify({ job_type: 'echo', payload: { big: 'x'.repeat(130 * 1024 + random.int(0, 5000)) } }) }),
      () => ({ why: 'POST /jobs: not JSON media', method: 'POST', url: '/jobs', headers: { ...acme.headers, 'content-type': random.pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) }, payload: 'job_type=echo' }),
      () => ({ why: 'POST /jobs: read key', method: 'POST', url: '/jobs', headers: { ...json, ...reader.headers }, payload: '{"job_type":"echo","payload":{}}' }),
      () => { const [why, headers] = random.pick(auths); return { why: `POST /jobs: ${why}`, method: 'POST', url: '/jobs', headers: { ...json, ...headers }, payload: '{"job_type":"echo","payload":{}}' }; },
      () => ({ why: 'GET /jobs/{bad id}', method: 'GET', url: `/jobs/${badId(random)}`, headers: acme.headers }),
      () => ({ why: "GET another client's job", method: 'GET', url: `/jobs/${theirs}`, headers: random.pick([acme.headers, reader.headers]) }),
      () => ({ why: "another client's log stream", method: 'GET', url: `/jobs/${theirs}/logs${random.pick(['', '?follow=false', '?follow=no'])}`, headers: { ...random.pick([acme.headers, reader.headers]), 'last-event-id': random.pick(['0', '3,backend=1', 'x;y', '-1', '1,,2']) } }),
      () => ({ why: 'POST /jobs/{bad id}/cancel', method: 'POST', url: `/jobs/${badId(random)}/cancel`, headers: acme.headers }),
      () => ({ why: "cancel another client's job", method: 'POST', url: `/jobs/${theirs}/cancel`, headers: { ...json, ...acme.headers }, payload: random.pick(['{}', '{"reason":"mine now"}']) }),
      () => ({ why: 'cancel: bad body', method: 'POST', url: `/jobs/${theirs}/cancel`, headers: { ...json, ...globex.headers }, payload: random.pick(['{"reason": 5}', '[]', '{"why":"x"}', '{"reason":', `{"reason":"${'x'.repeat(1200)}"}`]) }),
      () => { const [why, headers] = random.pick(auths); return { why: `GET ${why}`, method: 'GET', url: random.pick(['/agents', '/ready', '/openapi.json', `/jobs/${theirs}`, `/jobs/${theirs}/logs`]), headers }; },
      // Never '/' itself: that is the dashboard's page.
      () => ({ why: 'unknown route or method', method: random.pick(['GET', 'PUT', 'DELETE', 'PATCH'] as const), url: random.pick(['/job', `/jobs/${theirs}/retry`, '/admin', '/dead-letter', `/${randomText(random, 6).replace(/[^a-z0-9]/gi, '') || 'x'}`]), headers: acme.headers }),
      () => ({ why: 'GET /jobs: bad query', method: 'GET', url: `/jobs?${random.pick(['status=DONE', 'status=', 'limit=0', 'limit=201', 'limit=x', 'cursor=%00abc', `cursor=${randomText(random, 12).replace(/[^a-z0-9]/gi, '')}x`, 'since=yesterday', 'until=12', 'domain=Back%20End', 'parent=.x', 'sort=asc', 'client=globex', 'client=%20', `q=${'x'.repeat(600)}`])}`, headers: random.pick([acme.headers, reader.headers]) }),
      () => ({ why: "retry another client's job", method: 'POST', url: `/jobs/${random.pick([theirs, badId(random)])}/retry`, headers: { ...json, ...acme.headers }, payload: random.pick(['{}', '{"to":"main"}']) }),
      () => ({ why: 'retry a job that has not failed', method: 'POST', url: `/jobs/${theirs}/retry`, headers: { ...json, ...globex.headers }, payload: random.pick(['{}', '{"to":"Bad Domain"}', '{"from":"x"}']) }),
      () => ({ why: 'dead letters: unknown or bad ref', method: random.pick(['GET', 'POST'] as const), url: random.pick([`/dead-letters/${encodeURIComponent(randomText(random, 8)) || 'x'}`, `/dead-letters/${theirs}/retry`, `/dead-letters/main:${random.int(0, 99)}/retry`]), headers: { ...json, ...acme.headers }, payload: '{}' }),
      () => ({ why: 'purge: not admin or bad body', method: 'POST', url: '/dead-letters/purge', headers: { ...json, ...random.pick([acme.headers, reader.headers]) }, payload: random.pick(['{}', '{"all":true}', '{"refs":[]}', '{"refs":"x"}', '{"all":true,"refs":["a"]}']) }),
      () => ({ why: 'ELF: bad query', method: 'GET', url: random.pick([
        `/elf/search${random.pick(['', '?q=', '?q=%20', `?q=${'x'.repeat(2100)}`, '?q=x&limit=0', '?q=x&limit=501', '?q=x&domain=Bad%20Domain'])}`,
        `/elf/heuristics?${random.pick(['all=maybe', 'candidates=2', 'limit=x', 'domain=..', 'client=globex', 'client_id=globex'])}`,
        `/elf/stats?${random.pick(['client=globex', 'x=1'])}`, `/elf/golden-rules?${random.pick(['limit=-1', 'domain=%00', 'all=true'])}`,
        `/elf/hotspots?${random.pick([`repository=${'r'.repeat(1100)}`, 'limit=1.5', 'files=x'])}`,
      ]), headers: random.pick([acme.headers, reader.headers]) }),
      () => { const [why, headers] = random.pick(auths); return { why: `ELF: ${why}`, method: 'GET', url: random.pick(['/elf/stats', '/elf/heuristics', '/elf/golden-rules', '/elf/search?q=x', '/elf/hotspots']), headers }; },
      () => ({ why: 'POST /farms: bad body', method: 'POST', url: '/farms', headers: { ...json, ...acme.headers }, payload: JSON.stringify(random.pick<unknown>([
        {}, { path: '../globex/shop', problems_command: 'x' }, { path: `/${randomText(random, 8)}`, description: 'x' }, { path: 'shop' }, { path: '', description: 'x' },
        { path: 'shop', description: 'x', agent_count: random.pick([0, -1, 1.5, 10_000, '2']) }, { path: 'shop', description: 'x', runtime: random.pick(['vm', '', 3]) },
        { path: wrongValue(random, 'string'), description: 'x' }, { path: 'shop', description: 'x', [random.pick(['client_id', 'agents', 'command', 'timeout'])]: 'x' },
        wrongValue(random, 'object'),
      ])) }),
      () => ({ why: 'POST /farms: read key or no key', method: 'POST', url: '/farms', headers: { ...json, ...random.pick([reader.headers, random.pick(auths)[1]]) }, payload: '{"path":"shop","problems_command":"npm run lint"}' }),
      () => ({ why: "another client's farm, or a bad farm id", method: random.pick(['GET', 'POST'] as const), url: `/farms/${random.pick([theirFarm, badId(random)])}${random.pick(['', '/stop'])}`, headers: { ...json, ...random.pick([acme.headers, reader.headers]) }, payload: '{}' }),
      () => ({ why: 'keys: not admin', method: random.pick(['GET', 'POST'] as const), url: '/keys', headers: { ...json, ...random.pick([acme.headers, reader.headers]) }, payload: '{"role":"read"}' }),
      () => ({ why: 'POST /keys: bad body', method: 'POST', url: '/keys', headers: { ...json, ...admin.headers }, payload: JSON.stringify(random.pick<unknown>([
        {}, { role: random.pick(['owner', '', 'ADMIN', 3]) }, { role: 'read', rpm: random.pick([-1, 1.5, 'x']) }, { role: 'read', max_in_flight: random.pick([-2, 0.5, null]) },
        { role: 'read', [random.pick(['client', 'client_id', 'key'])]: 'globex' }, wrongValue(random, 'object'),
      ])) }),
      () => ({ why: "DELETE a key: another client's, unknown or malformed", method: 'DELETE', url: `/keys/${random.pick([globexAdmin.id, `ffff${random.int(0, 1e6).toString(16)}`, encodeURIComponent(randomText(random, 8)) || 'x', 'abc'])}`, headers: random.pick([admin.headers, acme.headers]) }),
      () => ({ why: 'GET /agents/{unknown}', method: 'GET', url: `/agents/${encodeURIComponent(randomText(random, 10)) || 'x'}`, headers: reader.headers }),
      // The task page's views and the bulk actions.
      () => ({ why: "a view of another client's job, or of a bad id", method: 'GET', url: `/jobs/${random.pick([theirs, badId(random)])}/${random.pick(['diff', 'lessons', 'timeline', 'diff?stat=true'])}`, headers: random.pick([acme.headers, reader.headers]) }),
      () => ({ why: 'GET /jobs/{id}/diff: bad stat', method: 'GET', url: `/jobs/${theirs}/diff?stat=${random.pick(['yes', '1', '', 'TRUE'])}`, headers: globex.headers }),
      () => ({ why: 'bulk: bad body', method: 'POST', url: random.pick(['/jobs/bulk/cancel', '/jobs/bulk/retry', '/dead-letters/bulk/retry', '/dead-letters/bulk/purge']), headers: { ...json, ...random.pick([acme.headers, globex.headers]) },
        payload: random.pick(['{"limit":0}', '{"limit":1001}', '{"limit":"5"}', '{"limit":2.5}', '{"domain":"Bad Domain"}', '{"cursor":"x"}', '{"x":1}', '[]', '"all"', 'null', '{"limit":']) }),
      () => ({ why: 'bulk jobs: bad filter', method: 'POST', url: random.pick(['/jobs/bulk/cancel', '/jobs/bulk/retry']), headers: { ...json, ...acme.headers }, payload: random.pick(['{"status":"DONE"}', '{"status":""}', '{"since":"yesterday"}', '{"until":"12"}', '{"parent":".x"}', `{"q":"${'x'.repeat(600)}"}`]) }),
      () => ({ why: 'bulk: read key or no key', method: 'POST', url: random.pick(['/jobs/bulk/cancel', '/jobs/bulk/retry', '/dead-letters/bulk/retry', '/dead-letters/bulk/purge']), headers: { ...json, ...random.pick([reader.headers, {}]) }, payload: '{}' }),
    ];
    const statuses = new Map<number, number>();
    for (let round = 0; round < ROUNDS; round++) {
      const request = random.pick(generators)();
      const reply = await api.app.inject({ method: request.method, url: request.url, headers: request.headers, ...(request.payload !== undefined ? { payload: request.payload } : {}) });
      const context = `round ${round}, ${request.why}: ${request.method} ${request.url.slice(0, 60)} ${String(request.payload ?? '').slice(0, 80)} -> ${reply.statusCode} ${reply.body.slice(0, 200)}`;
      expect(reply.statusCode >= 400 && reply.statusCode < 500, context).toBe(true);
      expect(reply.json(), context).toEqual({ error: { code: expect.stringMatching(/^[a-z_]+$/), message: expect.any(String) } });
      statuses.set(reply.statusCode, (statuses.get(reply.statusCode) ?? 0) + 1);
    }
    // Every kind of refusal was reached, and the server still answers.
    expect([...statuses.keys()].sort()).toEqual(expect.arrayContaining([400, 401, 403, 404, 413, 415, 422]));
    expect((await api.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    expect(await api.keyCount()).toBe(keysBefore);
    expect((await api.app.inject({ method: 'GET', url: `/jobs/${theirs}`, headers: globex.headers })).json()).toMatchObject({ status: 'QUEUED' });
    expect((await api.app.inject({ method: 'GET', url: '/keys', headers: globexAdmin.headers })).json()).toHaveLength(2);
  });
});
