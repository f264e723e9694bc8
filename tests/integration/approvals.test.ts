import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { silentLogger } from '../../lib/logger.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { buildApiServer } from '../../src/api/api-server.js';
import { createTestKey } from '../support/api.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';

const CLI = path.join(packageRoot(), 'dist', 'bundle', 'cli.mjs');

/**
 * Approval gates on a whole network (main, in-process domain agents, the local model server): a task
 * that needs approval waits in `awaiting_approval`, held by no agent, until the CLI, the API or its
 * window decides.
 */
describe('approval gates', () => {
  let network: TestNetwork;
  let api: FastifyInstance;
  const dan = (...args: string[]) => runProcess(process.execPath, [CLI, ...args], { env: cliEnv(network) });
  const statusOf = async (id: string) => network.redis.hget(network.keys.result(id), 'status');
  const awaiting = (id: string) => until(`${id} to await approval`, async () => (await statusOf(id)) === 'awaiting_approval', 30_000);

  beforeAll(async () => {
    network = await startTestNetwork({
      // devops asks a person before every task (its domain.md front matter), with no code naming it.
      prepareAgents: (dir) => {
        const file = path.join(dir, 'devops', 'domain.md');
        writeFileSync(file, readFileSync(file, 'utf8').replace(/^---\n/, '---\napproval: true\n'));
      },
    });
    api = await buildApiServer({ redis: network.redis, keys: network.keys, config: network.config, logger: silentLogger, requireKey: true });
  }, 60_000);
  afterAll(async () => {
    await api?.close();
    await network?.stop();
  });

  it('dan send --approval waits with its plan, held by no agent; dan approve runs it; approving again is refused', async () => {
    const sent = await dan('send', 'backend', 'Add a health endpoint', '--approval', '-R', 'GET /health answers 200', '--json');
    expect(sent.code, sent.stderr).toBe(0);
    const id = (JSON.parse(sent.stdout) as { task_id: string }).task_id;
    await awaiting(id);
    // Nothing is held while it waits: no lease, nothing active, and the attempt its parking claim took was given back.
    expect(await network.redis.zcard(network.keys.leases('backend'))).toBe(0);
    expect(await network.redis.llen(network.keys.active('backend'))).toBe(0);
    expect(await network.redis.hget(network.keys.result(id), 'attempts')).toBe('0');
    const listed = await dan('tasks', '-s', 'awaiting_approval');
    expect(listed.stdout).toContain(id.slice(0, 8));
    const status = await dan('status', id);
    expect(status.stdout).toContain('awaiting_approval');
    expect(status.stdout).toContain(`dan approve ${id}`);
    expect(status.stdout).toContain('plan: backend: Add a health endpoint');
    expect(status.stdout).toContain('- GET /health answers 200');

    const approved = await dan('approve', id);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain(`${id}: approved`);
    const hash = await network.waitFor(id);
    expect(hash['status']).toBe('completed');
    expect(hash['attempts']).toBe('1');
    expect(hash['approved_by']).toMatch(/^cli@/);

    const again = await dan('approve', id);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('completed, not awaiting approval');
    const missing = await dan('reject', 'no-such-task-1', '--reason', 'no');
    expect(missing.code).toBe(2);
  }, 90_000);

  it('a task sent to main is planned before it parks: the approver sees its sub-tasks, and approving runs that plan', async () => {
    const sent = await dan('send', 'main', 'Add a users API endpoint and a signup form page', '--approval', '--json');
    expect(sent.code, sent.stderr).toBe(0);
    const id = (JSON.parse(sent.stdout) as { task_id: string }).task_id;
    await awaiting(id);
    const viewer = await createTestKey(network.redis, network.keys, 'default', 'read');
    const view = (await api.inject({ method: 'GET', url: `/jobs/${id}/approval`, headers: viewer.headers })).json() as { plan: { route: { domain: string; after: string[] }[] } };
    const domains = view.plan.route.map((step) => step.domain);
    expect(domains.length).toBeGreaterThan(0);
    const status = await dan('status', id);
    for (const domain of domains) expect(status.stdout).toContain(`then ${domain}`);
    // Nothing was queued for it yet.
    expect(await network.redis.scard(network.keys.children(id))).toBe(0);

    expect((await dan('approve', id)).code).toBe(0);
    const hash = await network.waitFor(id);
    expect(hash['status'], hash['error']).toBe('completed');
    const ran = Object.values(JSON.parse(hash['output']!).children as Record<string, { domain: string }>).map((c) => c.domain);
    expect(ran.sort()).toEqual([...domains].sort());
  }, 90_000);

  it('over the API: a submit key may not approve (403); an approve key may (200), and a second approve is 409', async () => {
    const submitter = await createTestKey(network.redis, network.keys, 'acme', 'submit');
    const approver = await createTestKey(network.redis, network.keys, 'acme', 'approve');
    const other = await createTestKey(network.redis, network.keys, 'globex', 'approve');
    const sent = await api.inject({ method: 'POST', url: '/jobs', headers: submitter.headers, payload: { domain: 'frontend', job_type: 'echo', payload: { n: 1 }, approval: true } });
    expect(sent.statusCode, sent.body).toBe(202);
    const id = (sent.json() as { id: string }).id;
    await awaiting(id);
    const job = await api.inject({ method: 'GET', url: `/jobs/${id}`, headers: submitter.headers });
    expect(job.json()).toMatchObject({ dan_status: 'awaiting_approval' });
    const plan = await api.inject({ method: 'GET', url: `/jobs/${id}/approval`, headers: submitter.headers });
    expect(plan.json()).toMatchObject({ awaiting: true, plan: { domain: 'frontend' }, until: expect.any(String) });

    expect((await api.inject({ method: 'POST', url: `/jobs/${id}/approve`, headers: submitter.headers, payload: {} })).statusCode).toBe(403);
    // Another client's approver does not see it at all.
    expect((await api.inject({ method: 'POST', url: `/jobs/${id}/approve`, headers: other.headers, payload: {} })).statusCode).toBe(404);
    const ok = await api.inject({ method: 'POST', url: `/jobs/${id}/approve`, headers: approver.headers, payload: {} });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toEqual({ id, outcome: 'approved' });
    expect((await network.waitFor(id))['status']).toBe('completed');
    const late = await api.inject({ method: 'POST', url: `/jobs/${id}/approve`, headers: approver.headers, payload: {} });
    expect(late.statusCode).toBe(409);
    expect(late.json()).toMatchObject({ error: { code: 'not_awaiting_approval' } });
  }, 90_000);

  it("rejects with a reason (failure code 'rejected'), and a domain's own gate applies to every task of it", async () => {
    const approver = await createTestKey(network.redis, network.keys, 'default', 'approve');
    // devops has approval: true in its domain.md; the task itself asks for nothing.
    const { taskId } = await submitTask(network.redis, network.keys, { domain: 'devops', description: 'Rotate the deploy keys', type: 'echo' });
    await awaiting(taskId);
    const noReason = await api.inject({ method: 'POST', url: `/jobs/${taskId}/reject`, headers: approver.headers, payload: {} });
    expect(noReason.statusCode).toBe(400);
    const rejected = await api.inject({ method: 'POST', url: `/jobs/${taskId}/reject`, headers: approver.headers, payload: { reason: 'not during the freeze' } });
    expect(rejected.json()).toEqual({ id: taskId, outcome: 'rejected' });
    const hash = await network.waitFor(taskId);
    expect(hash['status']).toBe('failed');
    expect(hash['error']).toContain('not during the freeze');
    expect(JSON.parse(hash['output']!)).toMatchObject({ failure: { code: 'rejected', retryable: false } });
  }, 90_000);

  it('fails a task nobody decided on within its window with approval_timeout', async () => {
    const { taskId } = await submitTask(network.redis, network.keys, {
      domain: 'backend', description: 'ping', type: 'echo', extraMetadata: { approval: true, approval_timeout_seconds: 1 },
    });
    const hash = await network.waitFor(taskId);
    expect(hash['status']).toBe('failed');
    expect(JSON.parse(hash['output']!)).toMatchObject({ failure: { code: 'approval_timeout' } });
    expect(await network.redis.zscore(network.keys.approvals(), taskId)).toBeNull();
  }, 90_000);
});
