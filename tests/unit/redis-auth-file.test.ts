import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { aclFileText, aclRules } from '../../lib/redis/acl.js';
import { agentUrlFor, readRedisAuth, resolveRedisUrl, writeRedisAuth, type RedisAuth } from '../../src/cli/redis-auth-file.js';

const auth: RedisAuth = { pid: process.pid, url: 'redis://127.0.0.1:16399', passwords: { admin: 'pa', main: 'pm', agent: 'pg', client: 'pc', viewer: 'pv' } };

describe('which Redis a dan command uses when a dan up runs in its folder', () => {
  it('with no REDIS_URL: the private Redis, as the command role', () => {
    expect(resolveRedisUrl(undefined, 'redis://localhost:6379', 'client', auth)).toBe('redis://client:pc@127.0.0.1:16399');
    expect(resolveRedisUrl(undefined, 'redis://localhost:6379', 'admin', auth)).toBe('redis://:pa@127.0.0.1:16399');
  });

  it('a REDIS_URL naming that server without credentials gets them; any other REDIS_URL wins as given', () => {
    expect(resolveRedisUrl('redis://localhost:16399', 'x', 'viewer', auth)).toBe('redis://viewer:pv@localhost:16399');
    expect(resolveRedisUrl('redis://127.0.0.1:6380', 'x', 'client', auth)).toBe('redis://127.0.0.1:6380');
    expect(resolveRedisUrl('redis://:mine@127.0.0.1:16399', 'x', 'client', auth)).toBe('redis://:mine@127.0.0.1:16399');
    expect(resolveRedisUrl('redis://redis.example:16399', 'x', 'client', auth)).toBe('redis://redis.example:16399');
  });

  it("dan up runs main as the file's main user and hands its domains the agent user", () => {
    const mainUrl = resolveRedisUrl(undefined, 'redis://localhost:6379', 'main', auth);
    expect(mainUrl).toBe('redis://main:pm@127.0.0.1:16399');
    expect(agentUrlFor(mainUrl, auth)).toBe('redis://agent:pg@127.0.0.1:16399');
    // A Redis of the user's own (compose: one password for every container): the agents get main's URL.
    expect(agentUrlFor('redis://:mine@127.0.0.1:16399', auth)).toBe('redis://:mine@127.0.0.1:16399');
    expect(agentUrlFor('redis://localhost:6379', undefined)).toBe('redis://localhost:6379');
  });

  it('without a file (or with one whose dan up is gone), the configured URL', () => {
    expect(resolveRedisUrl(undefined, 'redis://localhost:6379', 'client', undefined)).toBe('redis://localhost:6379');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-auth-file-'));
    try {
      const file = path.join(dir, '.dan', 'redis-auth.json');
      writeRedisAuth(auth, file);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readRedisAuth(file)).toEqual(auth);
      // 2^22 + 1 is above Linux's largest pid.
      writeRedisAuth({ ...auth, pid: 4_194_305 }, file);
      expect(readRedisAuth(file)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Redis ACL users', () => {
  it('keeps the passwords out of the aclfile (hashes only) and each role to its prefix', () => {
    const text = aclFileText(auth.passwords, 'team-a:');
    for (const password of Object.values(auth.passwords)) expect(text).not.toMatch(new RegExp(`[ >]${password}( |$)`, 'm'));
    expect(text.split('\n').filter(Boolean).map((line) => line.split(' ')[1])).toEqual(['default', 'main', 'agent', 'client', 'viewer']);
    expect(aclRules('main', 'team-a:')).toContain('~team-a:*');
    expect(aclRules('agent', 'team-a:')).not.toContain('~team-a:*');
    expect(aclRules('client', 'team-a:')).toContain('~team-a:tasks:pending:*');
    expect(aclRules('viewer', 'team-a:')).not.toContain('+@write');
  });
});
