import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decideApproval } from '../../lib/redis/approvals.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { freePort } from '../../src/cli/local-redis.js';
import type { TestNetwork } from '../support/network.js';
import { startTestNetwork } from '../support/network.js';
import { uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

const portOpen = (port: number) => new Promise<boolean>((resolve) => {
  const socket = net.connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
  socket.once('error', () => resolve(false));
});

/**
 * A task awaiting approval is held by no process: every dan process stops and its append-only Redis
 * is killed and started again, and the task still waits, is approved, and runs once.
 */
describe('a task awaiting approval across process and Redis restarts', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-approval-aof-'));
  let server: ChildProcess | undefined;
  let network: TestNetwork | undefined;
  afterAll(async () => {
    await network?.stop().catch(() => undefined);
    server?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const startRedis = async (port: number) => {
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir], { stdio: 'ignore' });
    await until(`redis-server on ${port}`, () => portOpen(port), 15_000);
  };

  it('waits through a halt of main and its agents and a SIGKILL of Redis, then runs once when approved', async () => {
    const port = await freePort();
    await startRedis(port);
    const redis = { url: `redis://127.0.0.1:${port}`, prefix: uniquePrefix('aof') };
    network = await startTestNetwork({ redis });
    const { taskId } = await submitTask(network.redis, network.keys, { domain: 'backend', description: 'ping', type: 'echo', extraMetadata: { approval: true } });
    await until('the task to await approval', async () => (await network!.redis.hget(network!.keys.result(taskId), 'status')) === 'awaiting_approval', 30_000);

    // Every dan process goes (main, its domain agents), then Redis itself, without a clean shutdown.
    await network.halt();
    network.redis.disconnect();
    server!.kill('SIGKILL');
    await until('redis to be gone', async () => !(await portOpen(port)), 15_000);
    await startRedis(port);

    network = await startTestNetwork({ redis });
    expect(await network.redis.hget(network.keys.result(taskId), 'status')).toBe('awaiting_approval');
    expect(await network.redis.zscore(network.keys.approvals(), taskId)).not.toBeNull();
    const decided = await decideApproval(network.redis, network.keys, taskId, { decision: 'approve', by: 'test', retentionMs: 60_000 });
    expect(decided.kind).toBe('approved');
    const hash = await network.waitFor(taskId);
    expect(hash['status']).toBe('completed');
    expect(hash['attempts']).toBe('1');
    const finished = (await network.redis.xrange(network.keys.events(), '-', '+')).filter(([, f]) => f.includes('task.finished') && f.includes(taskId));
    expect(finished).toHaveLength(1);
  }, 120_000);
});
