import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from '../support/api.js';
import { startTestApi } from '../support/api.js';
import { idempotentTaskId } from '../../src/api/job-routes.js';

const json = { 'content-type': 'application/json' };
type Key = Awaited<ReturnType<TestApi['key']>>;

/** Jobs that wait on jobs and workflow files over the HTTP API, against a real Redis. */
describe('the HTTP API: dependencies and workflows', () => {
  let api: TestApi;
  let acme: Key;
  let globex: Key;

  beforeAll(async () => {
    api = await startTestApi();
    acme = await api.key('acme');
    globex = await api.key('globex');
  });
  afterAll(async () => api.close());

  const post = (url: string, body: unknown, headers: Record<string, string>) =>
    api.app.inject({ method: 'POST', url, headers: { ...json, ...headers }, payload: JSON.stringify(body) });

  it('keeps a job waiting on its depends_on, and refuses unknown ids, itself and another client\'s job with 400', async () => {
    const first = (await post('/jobs', { description: 'make the schema' }, acme.headers)).json().id as string;
    const waiting = await post('/jobs', { description: 'use the schema', depends_on: [first] }, acme.headers);
    expect(waiting.statusCode, waiting.body).toBe(202);
    expect(waiting.json()).toMatchObject({ dan_status: 'waiting', status: 'QUEUED' });
    const read = (await api.app.inject({ method: 'GET', url: `/jobs/${waiting.json().id as string}`, headers: acme.headers })).json();
    expect(read).toMatchObject({ dan_status: 'waiting', depends_on: [first] });
    const listed = (await api.app.inject({ method: 'GET', url: '/jobs?status=waiting', headers: acme.headers })).json();
    expect(listed.jobs.map((j: { id: string }) => j.id)).toEqual([waiting.json().id]);

    const unknown = await post('/jobs', { description: 'x', depends_on: ['no-such-job'] }, acme.headers);
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.message).toMatch(/cannot wait on no-such-job: no such task/);
    const theirs = await post('/jobs', { description: 'x', depends_on: [first] }, globex.headers);
    expect(theirs.statusCode).toBe(400);
    expect(theirs.json().error.message).toMatch(/belongs to another client/);
    // With an Idempotency-Key the job's id is known before it is sent: it may not wait on itself.
    const itself = await post('/jobs', { description: 'x', depends_on: [idempotentTaskId('acme', 'k')] }, { ...acme.headers, 'idempotency-key': 'k' });
    expect(itself.statusCode).toBe(400);
    expect(itself.json().error.message).toMatch(/cannot wait on itself/);
    const alone = await post('/jobs', { description: 'x', run_if: 'always' }, acme.headers);
    expect(alone.statusCode).toBe(400);
    expect(alone.json().error.message).toMatch(/run_if goes with depends_on/);
  });

  it('runs a workflow file and reads back its graph; a bad file is refused with its lines', async () => {
    const yaml = ['name: api-flow', 'steps:', '  a: {description: first}', '  b: {description: second, needs: a}'].join('\n');
    const sent = await post('/workflows', { yaml }, acme.headers);
    expect(sent.statusCode, sent.body).toBe(202);
    const id = sent.json().id as string;
    expect(sent.json().steps).toEqual([
      { name: 'a', task_id: `${id}.a`, status: 'pending', needs: [], depth: 0 },
      { name: 'b', task_id: `${id}.b`, status: 'waiting', needs: ['a'], depth: 1 },
    ]);
    expect((await api.app.inject({ method: 'GET', url: `/workflows/${id}`, headers: acme.headers })).json()).toMatchObject({ id, status: 'waiting', client: 'acme' });
    expect((await api.app.inject({ method: 'GET', url: `/workflows/${id}`, headers: globex.headers })).statusCode).toBe(404);

    const bad = await post('/workflows', { yaml: ['name: bad', 'steps:', '  a: {description: x, needs: [a]}', '  b: {descriptio: y}'].join('\n') }, acme.headers);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toMatch(/yaml:3: step 'a' needs itself/);
    expect(bad.json().error.message).toMatch(/yaml:4: step 'b': unknown key 'descriptio'/);
  });
});
