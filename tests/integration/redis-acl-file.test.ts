import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { createLogger } from '../../lib/logger.js';
import { urlForRole, type RedisRole } from '../../lib/redis/acl.js';
import { connectRedis, type Redis } from '../../lib/redis/connection.js';
import { Keys } from '../../lib/redis/keys.js';
import { freePort, redisServerOnPath, startRedisServer, type LocalRedis } from '../../src/cli/local-redis.js';
import { composeRedisPasswords } from '../support/compose-passwords.js';
import { runProcess } from '../support/run-process.js';

/**
 * The file `dan redis-acl` writes is what compose's broker loads with --aclfile: a redis-server
 * started on it has compose's users, and the agent's password (every domain container's) cannot
 * touch the model gateway's tokens, while main's can.
 */

const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-redis-acl-file-'));
const passwords = composeRedisPasswords();
const ROLE_PASSWORD: Record<RedisRole, string> = {
  admin: passwords.REDIS_PASSWORD, main: passwords.REDIS_MAIN_PASSWORD, agent: passwords.REDIS_AGENT_PASSWORD,
  client: passwords.REDIS_CLIENT_PASSWORD, viewer: passwords.REDIS_VIEWER_PASSWORD,
};
let server: LocalRedis | undefined;
let baseUrl = '';
const opened: Redis[] = [];

async function as(role: RedisRole): Promise<Redis> {
  const redis = await connectRedis(urlForRole(baseUrl, role, ROLE_PASSWORD[role]), { failFast: true });
  opened.push(redis);
  return redis;
}

const refusal = (promise: Promise<unknown>): Promise<string> => promise.then(() => 'allowed', (error: Error) => error.message);

describe.skipIf(!redisServerOnPath())('a Redis on the ACL file of dan redis-acl', () => {
  beforeAll(async () => {
    const file = path.join(dir, 'users.acl');
    const run = await runProcess(process.execPath, [path.join(packageRoot(), 'dist/bundle/cli.mjs'), 'redis-acl', '--out', file], {
      cwd: dir, env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...passwords },
    });
    expect(run.code, run.stderr).toBe(0);
    const port = await freePort();
    baseUrl = `redis://127.0.0.1:${port}`;
    server = await startRedisServer(port, createLogger({ level: 'silent' }), undefined, { aclFile: file, probeUrl: urlForRole(baseUrl, 'admin', passwords.REDIS_PASSWORD) });
  }, 30_000);

  afterAll(async () => {
    for (const redis of opened) redis.disconnect();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses the agent password on the gateway tokens, and lets main write them', async () => {
    const tokens = new Keys('').gatewayTokens();
    const agent = await as('agent');
    expect(await refusal(agent.hset(tokens, 'forged-hash', '{"agentId":"impostor","issuedAt":0}'))).toMatch(/NOPERM/);
    expect(await refusal(agent.hgetall(tokens))).toMatch(/NOPERM/);
    // The agent still works the task queues.
    expect(await agent.lpush('tasks:pending:backend', '{}')).toBe(1);
    const main = await as('main');
    expect(await main.hset(tokens, 'hash', '{"agentId":"backend-1","issuedAt":0}')).toBe(1);
    expect(await refusal(main.flushall())).toMatch(/NOPERM/);
  });

  it('lets the viewer read and nothing more, and refuses a wrong password', async () => {
    const viewer = await as('viewer');
    expect(await viewer.llen('tasks:pending:backend')).toBeGreaterThanOrEqual(0);
    expect(await refusal(viewer.lpush('tasks:pending:backend', '{}'))).toMatch(/NOPERM/);
    expect(await refusal(connectRedis(urlForRole(baseUrl, 'main', passwords.REDIS_AGENT_PASSWORD), { failFast: true }).then((r) => opened.push(r)))).toMatch(/WRONGPASS|refused the credentials/);
  });
});
