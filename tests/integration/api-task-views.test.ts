import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { silentLogger } from '../../lib/logger.js';
import { ApiKeys } from '../../lib/redis/api-keys.js';
import { buildApiServer } from '../../src/api/api-server.js';
import type { TimelineSpan } from '../../src/operations/task-timeline.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv } from '../support/network.js';
import { runProcess } from '../support/run-process.js';
import { SUM_CHECK } from '../support/sum-rules.js';
import { SUM_LESSON, runVerifiedJobs } from '../support/verified-job.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
const CHECK = SUM_CHECK;
const RULE = SUM_LESSON;

/**
 * GET /jobs/{id} (checks, review, cost), /diff, /lessons and /timeline of jobs a real network ran:
 * the main orchestrator, a backend agent, the local model server, real git and the ELF memory.
 */
describe('the task page views of the HTTP API', () => {
  let network: TestNetwork;
  let app: FastifyInstance;
  let acme: Record<string, string>;
  let globex: Record<string, string>;
  let globexAdmin: Record<string, string>;
  let verified: string;
  let routed: string;

  const get = (url: string, headers: Record<string, string>) => app.inject({ method: 'GET', url, headers });
  const dan = async (args: string[]) => {
    const run = await runProcess(process.execPath, [bin, ...args], { env: cliEnv(network), timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as unknown;
  };

  beforeAll(async () => {
    ({ network, verified, routed } = await runVerifiedJobs());
    app = await buildApiServer({ redis: network.redis, keys: network.keys, config: network.config, logger: silentLogger });
    const keys = new ApiKeys(network.redis, network.keys);
    acme = { authorization: `Bearer ${(await keys.create('acme', 'read')).key}` };
    globex = { authorization: `Bearer ${(await keys.create('globex', 'submit')).key}` };
    globexAdmin = { authorization: `Bearer ${(await keys.create('globex', 'admin')).key}` };
  }, 180_000);
  afterAll(async () => {
    await app?.close();
    await network?.stop();
  });

  it("answers a verified job's checks, its review (none ran) and its cost (null: no model call passed the gateway for it)", async () => {
    const job = (await get(`/jobs/${verified}`, acme)).json();
    expect(job.checks).toEqual([
      { command: CHECK, exit_code: 1, ok: false, round: 1, duration_ms: expect.any(Number), output_tail: 'module.exports = (a, b) => a - b; // broken' },
      { command: CHECK, exit_code: 0, ok: true, round: 2, duration_ms: expect.any(Number), output_tail: 'module.exports = (a, b) => a + b; // fixed' },
    ]);
    expect(job).toMatchObject({ review: null, reviews: [], cost: null });
    // A routed job ran no checks itself (its sub-tasks did): its output does not say, so null.
    expect((await get(`/jobs/${routed}`, acme)).json()).toMatchObject({ checks: null, review: null, cost: null });
  });

  it("answers a job's timeline: its attempt, its workers' model and tool calls and its checks, each timed", async () => {
    const { job_id, spans } = (await get(`/jobs/${verified}/timeline`, acme)).json() as { job_id: string; spans: TimelineSpan[] };
    expect(job_id).toBe(verified);
    const of = (kind: string) => spans.filter((s) => s.kind === kind);
    expect(of('attempt').map((s) => [s.name, s.status, s.parent_id])).toEqual([['attempt 1', 'completed', null]]);
    // Two rounds of one coder: a Write and a final answer each.
    expect(of('model_call')).toHaveLength(4);
    expect(of('tool_call').map((s) => [s.name, s.status])).toEqual([['Write', 'ok'], ['Write', 'ok']]);
    expect(of('check').map((s) => [s.name, s.status])).toEqual([[CHECK, 'failed'], [CHECK, 'passed']]);
    const attempt = of('attempt')[0]!;
    for (const s of spans) {
      expect(s.end, s.id).not.toBeNull();
      expect(s.duration_ms, s.id).toBe(Date.parse(s.end!) - Date.parse(s.start));
      if (s.kind !== 'attempt') expect(s.parent_id, s.id).toBe(attempt.id);
      if (s.kind === 'model_call' || s.kind === 'tool_call') expect(s.agent_id, s.id).toMatch(/^backend-[0-9a-f]{8}-[a-z-]+-\d+$/);
    }
    expect(spans.map((s) => s.start)).toEqual(spans.map((s) => s.start).sort());
  });

  it("answers a routed job's timeline with its sub-task and what ran in it", async () => {
    const { spans } = (await get(`/jobs/${routed}/timeline`, acme)).json() as { spans: TimelineSpan[] };
    const ids = new Set(spans.map((s) => s.id));
    for (const s of spans) if (s.parent_id !== null) expect(ids.has(s.parent_id), `${s.id} under ${s.parent_id}`).toBe(true);
    const sub = spans.find((s) => s.kind === 'sub_task');
    expect(sub).toMatchObject({ task_id: `${routed}-backend`, name: 'backend', status: 'completed', parent_id: `${routed}:attempt:1` });
    const childAttempt = spans.find((s) => s.kind === 'attempt' && s.task_id === `${routed}-backend`);
    expect(childAttempt?.parent_id).toBe(sub?.id);
    expect(spans.filter((s) => s.kind === 'model_call' && s.task_id === `${routed}-backend`).every((s) => s.parent_id === childAttempt?.id)).toBe(true);
    expect(spans.filter((s) => s.kind === 'tool_call').map((s) => s.name)).toEqual(['Write']);
  });

  it('answers the diff and the lessons exactly as dan diff --json and dan elf injections --json print them', async () => {
    const diff = await get(`/jobs/${verified}/diff`, acme);
    expect(diff.statusCode, diff.body).toBe(200);
    expect(diff.json()).toEqual(await dan(['diff', verified, '--json']));
    expect(diff.json()).toEqual([expect.objectContaining({ task_id: verified, branch: `dan/${verified}`, diff: expect.stringContaining('+module.exports = (a, b) => a + b; // fixed') })]);
    const stat = (await get(`/jobs/${verified}/diff?stat=true`, acme)).json() as { diff: string }[];
    expect(stat[0]?.diff).toMatch(/sum\.js \| 1 \+/);
    // A job whose workspace is not a git repository has no branch: 404 saying why.
    const none = await get(`/jobs/${routed}/diff`, acme);
    expect(none.statusCode).toBe(404);
    expect(none.json().error.message).toContain('not a git repository');

    const lessons = await get(`/jobs/${verified}/lessons`, acme);
    expect(lessons.statusCode, lessons.body).toBe(200);
    expect(lessons.json()).toEqual(await dan(['elf', 'injections', verified, '--json', '--client', 'acme']));
    expect(lessons.json()).toEqual(expect.arrayContaining([expect.objectContaining({ taskId: verified, domain: 'backend', text: expect.stringContaining(RULE) })]));
    // Another client's admin key reads the job's lessons from the job's client's memory (acme's), not its own.
    const operator = await get(`/jobs/${verified}/lessons`, globexAdmin);
    expect(operator.statusCode, operator.body).toBe(200);
    expect(operator.json()).toEqual(lessons.json());
    expect(await dan(['elf', 'injections', verified, '--json', '--client', 'globex'])).not.toEqual(lessons.json());
  });

  it("answers another client's job as a missing one (404) on every view, and refuses bad ids (400)", async () => {
    for (const view of ['', '/diff', '/lessons', '/timeline']) {
      const theirs = await get(`/jobs/${verified}${view}`, globex);
      expect(theirs.statusCode, view).toBe(404);
      expect(theirs.json().error.code).toBe('not_found');
      expect((await get(`/jobs/no-such-job${view}`, acme)).statusCode, view).toBe(404);
      expect((await get(`/jobs/${encodeURIComponent('a b')}${view}`, acme)).statusCode, view).toBe(400);
      expect((await app.inject({ method: 'GET', url: `/jobs/${verified}${view}` })).statusCode, view).toBe(401);
    }
    expect((await get(`/jobs/${verified}/diff?stat=maybe`, acme)).statusCode).toBe(400);
  });
});
