import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordCallCost } from '../../lib/redis/budgets.js';
import type { TestApi } from '../support/api.js';
import { startTestApi } from '../support/api.js';

/** The HTTP API's face of cost control: `budget_usd` on a job and a farm (checked), and GET /cost scoped to the key's client. */
describe('budgets and cost in the HTTP API', () => {
  let api: TestApi;
  beforeAll(async () => { api = await startTestApi(); });
  afterAll(async () => { await api.close(); });

  it('queues a job with its budget_usd and refuses zero, negative, text and absurd budgets with 400', async () => {
    const acme = await api.key('acme');
    const sent = await api.app.inject({ method: 'POST', url: '/jobs', headers: acme.headers, payload: { domain: 'backend', description: 'x', budget_usd: 1.5 } });
    expect(sent.statusCode).toBe(202);
    const [raw] = await api.redis.lrange(api.keys.pending('backend'), 0, 0);
    expect(JSON.parse(raw ?? '{}')).toMatchObject({ metadata: { budget_usd: 1.5, client_id: 'acme' } });
    for (const budget of [0, -1, 'ten', 1e9]) {
      const refused = await api.app.inject({ method: 'POST', url: '/jobs', headers: acme.headers, payload: { domain: 'backend', description: 'x', budget_usd: budget } });
      expect(refused.statusCode).toBe(400);
      expect(refused.body).toContain('budget_usd');
    }
  });

  it("starts a farm with its budget_usd (all its agents' calls) and refuses a bad one with 400", async () => {
    const acme = await api.key('acme');
    const sent = await api.app.inject({ method: 'POST', url: '/farms', headers: acme.headers, payload: { path: 'app', problems_command: 'npm run lint', budget_usd: 2 } });
    expect(sent.statusCode, sent.body).toBe(202);
    const [raw] = await api.redis.lrange(api.keys.pending('farm'), 0, 0);
    expect(JSON.parse(raw ?? '{}')).toMatchObject({ metadata: { budget_usd: 2, client_id: 'acme' } });
    const refused = await api.app.inject({ method: 'POST', url: '/farms', headers: acme.headers, payload: { path: 'app', problems_command: 'npm run lint', budget_usd: -2 } });
    expect(refused.statusCode).toBe(400);
    expect(refused.body).toContain('budget_usd');
  });

  it("answers GET /cost with the caller's client's calls only; an admin key sees every client's", async () => {
    const day = new Date().toISOString().slice(0, 10);
    const call = { budgets: undefined, reservedMicro: 0, worker: 'api', day, tokens: { input: 10 }, model: 'claude-sonnet-5-5', domain: 'backend' };
    await recordCallCost(api.redis, api.keys, { ...call, costMicro: 2_000_000, client: 'acme' });
    await recordCallCost(api.redis, api.keys, { ...call, costMicro: 500_000, client: 'globex' });
    const acme = await api.key('acme', 'read');
    const mine = await api.app.inject({ method: 'GET', url: '/cost?by=client', headers: acme.headers });
    expect(mine.statusCode).toBe(200);
    expect(mine.json()).toMatchObject({ client: 'acme', total: { usd: 2, calls: 1 }, lines: [{ key: 'acme', usd: 2 }] });
    const admin = await api.key('ops', 'admin');
    const all = await api.app.inject({ method: 'GET', url: '/cost?by=client&since=7d', headers: admin.headers });
    expect(all.json()).toMatchObject({ client: null, total: { usd: 2.5, calls: 2 } });
    const bad = await api.app.inject({ method: 'GET', url: '/cost?since=whenever', headers: acme.headers });
    expect(bad.statusCode).toBe(400);
    const doc = (await api.app.inject({ method: 'GET', url: '/openapi.json', headers: acme.headers })).json() as { paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    expect(Object.keys(doc.paths)).toContain('/cost');
    expect(JSON.stringify(doc.components.schemas)).toContain('budget_usd');
  });
});
