import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { aclFileText } from '../../lib/redis/acl.js';
import { resolveRedisUrl } from '../../src/cli/redis-auth-file.js';
import { composeRedisAuth, passwordsFromEnv } from '../../src/cli/compose-redis-auth.js';
import { composeRedisPasswords } from '../support/compose-passwords.js';
import { runProcess } from '../support/run-process.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-redis-acl-'));
const passwords = composeRedisPasswords();

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `dan redis-acl` as compose's redis-acl service runs it: the passwords in its environment, in a folder without a .env. */
const redisAcl = (args: string[], env: Record<string, string>) =>
  runProcess(process.execPath, [bin, 'redis-acl', ...args], { cwd: dir, env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env } });

describe('dan redis-acl', () => {
  it('writes the users dan up gives its private Redis, from the five passwords, readable by owner and group only', async () => {
    const file = path.join(dir, 'users.acl');
    const run = await redisAcl(['--out', file], { ...passwords, DAN_KEY_PREFIX: 'team1:' });
    expect(run.code, run.stderr).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o640);
    const text = readFileSync(file, 'utf8');
    // The one generator of lib/redis/acl.ts, with the roles in the order they are named.
    expect(text).toBe(aclFileText({
      admin: passwords.REDIS_PASSWORD, main: passwords.REDIS_MAIN_PASSWORD, agent: passwords.REDIS_AGENT_PASSWORD,
      client: passwords.REDIS_CLIENT_PASSWORD, viewer: passwords.REDIS_VIEWER_PASSWORD,
    }, 'team1:'));
    expect(text.split('\n').filter((line) => line !== '').map((line) => line.split(' ')[1])).toEqual(['default', 'main', 'agent', 'client', 'viewer']);
    for (const value of Object.values(passwords)) expect(text).not.toContain(value);
    expect(run.stdout + run.stderr).not.toContain(passwords.REDIS_AGENT_PASSWORD);
  });

  it('prints the file without --out', async () => {
    const run = await redisAcl([], passwords);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^user default reset on #[0-9a-f]{64} ~\* &\* \+@all\n/);
  });

  it('refuses, exit 2, naming every password that is missing and how to make one', async () => {
    const run = await redisAcl(['--out', path.join(dir, 'none.acl')], { REDIS_PASSWORD: passwords.REDIS_PASSWORD });
    expect(run.code).toBe(2);
    for (const name of ['REDIS_MAIN_PASSWORD', 'REDIS_AGENT_PASSWORD', 'REDIS_CLIENT_PASSWORD', 'REDIS_VIEWER_PASSWORD']) expect(run.stderr).toContain(`${name} is not set`);
    expect(run.stderr).toContain('openssl rand -hex 24');
    expect(() => statSync(path.join(dir, 'none.acl'))).toThrow();
  });
});

describe('passwordsFromEnv', () => {
  it('maps each variable to its role', () => {
    expect(passwordsFromEnv(passwords)).toEqual({
      admin: passwords.REDIS_PASSWORD, main: passwords.REDIS_MAIN_PASSWORD, agent: passwords.REDIS_AGENT_PASSWORD,
      client: passwords.REDIS_CLIENT_PASSWORD, viewer: passwords.REDIS_VIEWER_PASSWORD,
    });
  });

  it('refuses one password for two users, which would make them one user to whoever holds it', () => {
    expect(() => passwordsFromEnv({ ...passwords, REDIS_AGENT_PASSWORD: passwords.REDIS_MAIN_PASSWORD })).toThrow('REDIS_MAIN_PASSWORD and REDIS_AGENT_PASSWORD are the same');
  });

  it('refuses a password that is short or would need escaping in a REDIS_URL', () => {
    expect(() => passwordsFromEnv({ ...passwords, REDIS_CLIENT_PASSWORD: 'short' })).toThrow('REDIS_CLIENT_PASSWORD must be 16 or more letters, digits or - . _ ~');
    expect(() => passwordsFromEnv({ ...passwords, REDIS_VIEWER_PASSWORD: 'has@an:at-sign/and-more' })).toThrow('REDIS_VIEWER_PASSWORD must be 16');
  });
});

describe('composeRedisAuth', () => {
  it("gives dan commands next to a compose network their user on the broker's published port", () => {
    const auth = composeRedisAuth({ ...passwords, REDIS_PORT: '6390' });
    expect(resolveRedisUrl(undefined, 'redis://localhost:6379', 'client', auth)).toBe(`redis://client:${passwords.REDIS_CLIENT_PASSWORD}@127.0.0.1:6390`);
    expect(resolveRedisUrl('redis://localhost:6390', 'redis://localhost:6379', 'admin', auth)).toBe(`redis://:${passwords.REDIS_PASSWORD}@localhost:6390`);
    // A URL with credentials, or naming another server, wins as given.
    expect(resolveRedisUrl('redis://redis.example:6390', 'redis://localhost:6379', 'client', auth)).toBe('redis://redis.example:6390');
  });

  it('is undefined without all five passwords, so commands connect as before', () => {
    expect(composeRedisAuth({ REDIS_PASSWORD: passwords.REDIS_PASSWORD })).toBeUndefined();
  });
});
