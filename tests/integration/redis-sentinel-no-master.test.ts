import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { createLogger } from '../../lib/logger.js';
import { connectRedis, type Redis } from '../../lib/redis/connection.js';
import { Keys } from '../../lib/redis/keys.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { freePort } from '../../src/cli/local-redis.js';
import { uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
const NAME = 'nomaster';

/**
 * A Sentinel that names no master for the URL's name, at start and while connected: one
 * `redis-server` and one `redis-sentinel` (quorum 1) of this test's own, on loopback, so the Sentinel
 * can be made to forget its master (`SENTINEL REMOVE`) and learn it again without disturbing others.
 */
describe('a Sentinel that names no master', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-no-master-'));
  const children: ChildProcess[] = [];
  let masterPort: number;
  let sentinelPort: number;
  let sentinel: Redis;
  let master: Redis;
  const url = () => `redis+sentinel://127.0.0.1:${sentinelPort}/${NAME}`;
  const env = (redisUrl: string, prefix: string) => ({ PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', REDIS_URL: redisUrl, DAN_KEY_PREFIX: prefix, DAN_LLM: 'local', DAN_WORKSPACE: path.join(dir, 'workspace') });

  beforeAll(async () => {
    masterPort = await freePort();
    sentinelPort = await freePort();
    children.push(spawn('redis-server', ['--port', String(masterPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' }));
    const conf = path.join(dir, 'sentinel.conf');
    writeFileSync(conf, `port ${sentinelPort}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor ${NAME} 127.0.0.1 ${masterPort} 1\n`);
    children.push(spawn('redis-sentinel', [conf], { stdio: 'ignore' }));
    master = await until('the master to answer', () => connectRedis(`redis://127.0.0.1:${masterPort}`, { failFast: true }), 20_000);
    sentinel = await until('the Sentinel to answer', () => connectRedis(`redis://127.0.0.1:${sentinelPort}`, { failFast: true }), 20_000);
    await until('the Sentinel to name the master', async () => ((await sentinel.call('SENTINEL', 'get-master-addr-by-name', NAME)) as string[] | null)?.[1] === String(masterPort), 20_000);
  }, 60_000);

  afterAll(async () => {
    sentinel?.disconnect();
    master?.disconnect();
    await Promise.all(children.map((child) => {
      if (child.exitCode !== null || child.signalCode !== null) return undefined;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      return exited;
    }));
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops dan up, dan send and dan serve at start with the fix (exit 3), and queues nothing', async () => {
    const prefix = uniquePrefix('no-master');
    const wrong = `redis+sentinel://127.0.0.1:${sentinelPort}/nosuchmaster`;
    for (const args of [['up'], ['up', '--no-start-redis'], ['send', 'backend', 'kept or refused, never dropped'], ['serve', '--port', '0']]) {
      const run = await runProcess(process.execPath, [bin, ...args], { env: env(wrong, prefix), timeoutMs: 60_000 });
      expect(run.code, `dan ${args.join(' ')}: ${run.stderr}`).toBe(3);
      expect(run.stderr, `dan ${args.join(' ')}`).toMatch(/name no master 'nosuchmaster'.*sentinel monitor NAME host port quorum.*SENTINEL MASTERS/);
    }
    expect(await master.keys(`${prefix}*`)).toEqual([]);
  });

  it('while connected: says why it cannot reconnect, refuses new sends with the fix, and keeps the task it was sending', async () => {
    const prefix = uniquePrefix('no-master-live');
    const keys = new Keys(prefix);
    const lines: string[] = [];
    const destination = new Writable({ write(chunk: Buffer, _encoding, done) { lines.push(chunk.toString()); done(); } });
    const redis = await connectRedis(url(), { name: 'no-master-test', logger: createLogger({ level: 'info', format: 'json', destination }) });
    try {
      const before = await submitTask(redis, keys, { domain: 'backend', type: 'echo', description: 'sent before' });
      await sentinel.call('SENTINEL', 'REMOVE', NAME);
      // Every client of the master but this admin connection reconnects, and asks the Sentinel where the master is.
      await master.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      const during = submitTask(redis, keys, { domain: 'backend', type: 'echo', description: 'sent while no master is named' });
      const logged = await until('the log line that names the cause', async () => lines.find((line) => line.includes('name no master')), 60_000);
      expect(logged).toMatch(new RegExp(`the Sentinels at 127.0.0.1:${sentinelPort} name no master '${NAME}'`));
      const refused = await runProcess(process.execPath, [bin, 'send', 'backend', 'refused, not dropped'], { env: env(url(), prefix), timeoutMs: 60_000 });
      expect(refused.code).toBe(3);
      expect(refused.stderr).toMatch(new RegExp(`name no master '${NAME}'`));
      await sentinel.call('SENTINEL', 'MONITOR', NAME, '127.0.0.1', String(masterPort), '1');
      const { taskId } = await during;
      for (const id of [before.taskId, taskId]) expect(await master.hget(keys.result(id), 'status'), id).toBe('pending');
      expect(await master.llen(keys.pending('backend'))).toBe(2);
      expect(lines.some((line) => line.includes('redis connection restored'))).toBe(true);
    } finally {
      redis.disconnect();
    }
  }, 120_000);
});
