import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { startDanServe } from '../../src/bench/start-dan-serve.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');

describe('dan serve and dan keys against a running network', () => {
  let network: TestNetwork;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    network = await startTestNetwork();
    env = cliEnv(network);
  });
  afterAll(async () => network?.stop());

  it("refuses a non-loopback --host while no key exists (exit 2), and says how to make one", async () => {
    const run = await runProcess(process.execPath, [bin, 'serve', '--host', '0.0.0.0', '--port', '0'], { env });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("dan keys create --client");
  });

  it('with --require-keys listens beyond loopback before any key exists, answering only /health until one does', async () => {
    expect(await network.redis.hlen(network.keys.apiKeys())).toBe(0);
    const api = await startDanServe({ env, args: ['--host', '0.0.0.0', '--require-keys'] });
    try {
      const base = api.url.replace('0.0.0.0', '127.0.0.1');
      expect((await fetch(`${base}/health`)).status).toBe(200);
      const refused = await fetch(`${base}/agents`);
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    } finally {
      api.child.kill('SIGTERM');
    }
    expect(await api.stopped).toBe(0);
  });

  it("runs the seed's echo job over a real socket with a key, from POST /jobs to SUCCEEDED", async () => {
    const created = await runProcess(process.execPath, [bin, 'keys', 'create', '--client', 'acme', '--json'], { env });
    expect(created.code, created.stderr).toBe(0);
    const { key, id: keyId, role } = JSON.parse(created.stdout) as { key: string; id: string; role: string };
    expect(role).toBe('submit');
    // Only the hash is kept.
    expect(JSON.stringify(await network.redis.hgetall(network.keys.apiKeys()))).not.toContain(key);
    const listed = await runProcess(process.execPath, [bin, 'keys', 'list', '--json'], { env });
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ id: keyId, client: 'acme', role: 'submit' })]);

    // With a key, a non-loopback address is allowed; a request without a key is not.
    const api = await startDanServe({ env, args: ['--host', '0.0.0.0'] });
    try {
      const base = api.url.replace('0.0.0.0', '127.0.0.1');
      expect((await fetch(`${base}/health`)).status).toBe(200);
      expect((await fetch(`${base}/agents`)).status).toBe(401);
      const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
      expect(await (await fetch(`${base}/ready`, { headers: auth })).json()).toMatchObject({ status: 'ready' });
      const sent = await fetch(`${base}/jobs`, { method: 'POST', headers: auth, body: JSON.stringify({ job_type: 'echo', payload: { message: 'hello' } }) });
      expect(sent.status).toBe(202);
      const location = sent.headers.get('location') as string;
      const job = await until('the echo job to succeed', async () => {
        const body = await (await fetch(`${base}${location}`, { headers: auth })).json() as { status: string };
        return body.status === 'SUCCEEDED' || body.status === 'FAILED' ? body : undefined;
      }, 45_000);
      expect(job).toMatchObject({ status: 'SUCCEEDED', dan_status: 'completed', client: 'acme', error: null, failure_code: null });
      expect((job as unknown as { output: { echo: unknown } }).output.echo).toMatchObject({ message: 'hello' });
      expect((job as unknown as { sub_tasks: unknown[] }).sub_tasks.length).toBeGreaterThan(0);
      expect((job as unknown as { completed_at: string | null }).completed_at).not.toBeNull();
      // Its sub-tasks carry its client, so they are the same client's to read.
      const [sub] = (job as unknown as { sub_tasks: Array<{ id: string }> }).sub_tasks;
      expect(await (await fetch(`${base}/jobs/${sub?.id}`, { headers: auth })).json()).toMatchObject({ id: sub?.id, client: 'acme', status: 'SUCCEEDED' });

      const revoked = await runProcess(process.execPath, [bin, 'keys', 'revoke', keyId], { env });
      expect(revoked.code, revoked.stderr).toBe(0);
      expect((await fetch(`${base}${location}`, { headers: auth })).status).toBe(401);
      expect((await runProcess(process.execPath, [bin, 'keys', 'revoke', keyId], { env })).code).toBe(2);
    } finally {
      api.child.kill('SIGTERM');
    }
    expect(await api.stopped).toBe(0);
  });

  it('makes a key with its own limits (--rpm, --max-in-flight), listed with it', async () => {
    const created = await runProcess(process.execPath, [bin, 'keys', 'create', '--client', 'limited', '--rpm', '3', '--max-in-flight', '1', '--json'], { env });
    expect(created.code, created.stderr).toBe(0);
    const { id } = JSON.parse(created.stdout) as { id: string };
    expect(JSON.parse(created.stdout)).toMatchObject({ client: 'limited', rpm: 3, max_in_flight: 1 });
    const listed = JSON.parse((await runProcess(process.execPath, [bin, 'keys', 'list', '--json'], { env })).stdout) as unknown[];
    expect(listed).toContainEqual(expect.objectContaining({ id, rpm: 3, max_in_flight: 1 }));
    const bad = await runProcess(process.execPath, [bin, 'keys', 'create', '--client', 'limited', '--rpm', '-1'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--rpm must be a whole number');
    const unserved = await runProcess(process.execPath, [bin, 'keys', 'create', '--client', 'zeta'], { env: { ...env, DAN_CLIENTS: 'acme' } });
    expect(unserved.code).toBe(2);
    expect(unserved.stderr).toContain("client 'zeta' is not one DAN_CLIENTS lists (acme)");
  });
  it('several dan serve processes answer for one network: a key, a job and an idempotent retry are the same from each', async () => {
    const created = await runProcess(process.execPath, [bin, 'keys', 'create', '--client', 'pair', '--json'], { env });
    expect(created.code, created.stderr).toBe(0);
    const { key } = JSON.parse(created.stdout) as { key: string };
    const [a, b] = await Promise.all([startDanServe({ env }), startDanServe({ env })]);
    try {
      const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'idempotency-key': 'deploy-42' };
      const body = JSON.stringify({ job_type: 'echo', payload: { message: 'twice' } });
      const first = await fetch(`${a.url}/jobs`, { method: 'POST', headers: auth, body });
      expect(first.status).toBe(202);
      const { id } = await first.json() as { id: string };
      // The retry lands on the other process, which keeps nothing of its own: it answers the first job.
      const second = await fetch(`${b.url}/jobs`, { method: 'POST', headers: auth, body });
      expect(second.status).toBe(202);
      expect(await second.json()).toMatchObject({ id, replayed: true });
      const job = await until('the echo job, read from the other process', async () => {
        const read = await (await fetch(`${b.url}/jobs/${id}`, { headers: auth })).json() as { status: string };
        return read.status === 'SUCCEEDED' || read.status === 'FAILED' ? read : undefined;
      }, 45_000);
      expect(job).toMatchObject({ id, status: 'SUCCEEDED', client: 'pair' });
      // One job, not two: the listing holds it once, beside its sub-task.
      const listed = await (await fetch(`${a.url}/jobs`, { headers: auth })).json() as { jobs: Array<{ id: string; parent: string | null }> };
      expect(listed.jobs.filter((j) => j.parent === null).map((j) => j.id)).toEqual([id]);
      expect(listed.jobs.filter((j) => j.parent !== null).every((j) => j.parent === id)).toBe(true);
    } finally {
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
    }
    expect(await Promise.all([a.stopped, b.stopped])).toEqual([0, 0]);
  });
});
