import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { composeTarget, parseComposeProjects, parsePublishedPort } from '../../src/cli/compose-ui.js';
import { REDIS_COMMANDER_VERSION, findRedisCommander, redisCommanderLaunch } from '../../src/cli/redis-commander.js';

const option = (args: string[], name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);

describe('dan inspect: Redis Commander arguments from REDIS_URL', () => {
  it('passes host and port, listens on loopback only, and keeps no saved connections', () => {
    const { args, env } = redisCommanderLaunch('redis://localhost:6380', 9000);
    expect(option(args, '--redis-host')).toBe('localhost');
    expect(option(args, '--redis-port')).toBe('6380');
    expect(option(args, '--address')).toBe('127.0.0.1');
    expect(option(args, '--port')).toBe('9000');
    expect(args).toEqual(expect.arrayContaining(['--nosave', '--noload']));
    for (const absent of ['--redis-password', '--redis-username', '--redis-db', '--redis-tls', '--root-pattern']) expect(args).not.toContain(absent);
    expect(env).toEqual({});
  });

  it('takes user, password (decoded), database and TLS from the URL into its environment, never its arguments (audit M8: ps shows arguments)', () => {
    const { args, env } = redisCommanderLaunch('rediss://app:p%40ss%3Aword@redis.example:6390/2', 8081);
    expect(args.join(' ')).not.toMatch(/p@ss|p%40ss|--redis-password/);
    expect(JSON.parse(env['NODE_CONFIG'] ?? '{}')).toEqual({ connections: [{ label: 'dan', host: 'redis.example', port: 6390, dbIndex: 2, username: 'app', password: 'p@ss:word', tls: true }] });
    const plain = redisCommanderLaunch('redis://:secret@10.0.0.5', 8081);
    expect(plain.args).not.toContain('secret');
    expect(JSON.parse(plain.env['NODE_CONFIG'] ?? '{}')).toMatchObject({ connections: [{ host: '10.0.0.5', port: 6379, password: 'secret' }] });
    expect(option(redisCommanderLaunch('redis://[::1]:6379', 8081).args, '--redis-host')).toBe('::1');
  });

  it('[audit #60] puts the login of the page into its configuration, never its arguments, with or without Redis credentials', () => {
    const login = { username: 'dan', password: 'ui-pass-123' };
    const plain = redisCommanderLaunch('redis://localhost:6379', 8081, '', login);
    expect(plain.args.join(' ')).not.toMatch(/ui-pass-123|--http-auth/);
    expect(JSON.parse(plain.env['NODE_CONFIG'] ?? '{}')).toEqual({ server: { httpAuth: { username: 'dan', password: 'ui-pass-123' } } });
    const withPassword = redisCommanderLaunch('redis://viewer:secret@127.0.0.1:6390', 8081, '', login);
    expect(withPassword.args.join(' ')).not.toMatch(/ui-pass-123|secret/);
    expect(JSON.parse(withPassword.env['NODE_CONFIG'] ?? '{}')).toMatchObject({
      server: { httpAuth: { username: 'dan', password: 'ui-pass-123' } },
      connections: [{ username: 'viewer', password: 'secret' }],
    });
  });

  it("shows only this network's keys when a key prefix is set", () => {
    expect(option(redisCommanderLaunch('redis://localhost:6379', 8081, 'team-a:').args, '--root-pattern')).toBe('team-a:*');
  });
});

describe('dan inspect: finding Redis Commander', () => {
  it('prefers a redis-commander on the PATH, and falls back to the pinned npx package', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-rc-path-'));
    try {
      const bin = path.join(dir, 'redis-commander');
      writeFileSync(bin, '#!/bin/sh\n');
      chmodSync(bin, 0o755);
      expect(findRedisCommander(dir)).toEqual({ program: bin, args: [], via: 'path' });
      const fallback = findRedisCommander(path.join(dir, 'nothing-here'));
      // This checkout does not install redis-commander, so npx is what remains.
      expect(fallback).toEqual({ program: 'npx', args: ['--yes', `redis-commander@${REDIS_COMMANDER_VERSION}`], via: 'npx' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('dan inspect: compose', () => {
  it('reads the compose project of running main containers from docker ps', () => {
    const text = 'dan\t/srv/dan/docker-compose.yml,/srv/dan/docker-compose.override.yml\t/srv/dan\n\t\t\n';
    expect(parseComposeProjects(text)).toEqual([{ name: 'dan', files: ['/srv/dan/docker-compose.yml', '/srv/dan/docker-compose.override.yml'], workingDir: '/srv/dan' }]);
    expect(parseComposeProjects('')).toEqual([]);
  });

  it("addresses the running project's own files when they are here, else the package's compose file", () => {
    const project = { name: 'dan', files: ['/srv/dan/docker-compose.yml'], workingDir: '/srv/dan' };
    const here = (files: string[]) => (file: string) => files.includes(file);
    expect(composeTarget(project, '/pkg', here(['/srv/dan/docker-compose.yml', '/srv/dan']))).toEqual({
      args: ['-p', 'dan', '-f', '/srv/dan/docker-compose.yml', '--profile', 'debug'], cwd: '/srv/dan',
    });
    expect(composeTarget(project, '/pkg', here(['/pkg/docker-compose.yml']))).toEqual({
      args: ['-p', 'dan', '-f', '/pkg/docker-compose.yml', '--profile', 'debug'], cwd: '/pkg',
    });
    expect(composeTarget(undefined, '/pkg', here(['/pkg/docker-compose.yml']))).toEqual({ args: ['-f', '/pkg/docker-compose.yml', '--profile', 'debug'], cwd: '/pkg' });
    expect(composeTarget(project, '/pkg', here([]))).toBeUndefined();
  });

  it('reads the published port of the UI', () => {
    expect(parsePublishedPort('127.0.0.1:8081\n')).toBe(8081);
    expect(parsePublishedPort('0.0.0.0:49153\n[::]:49153\n')).toBe(49153);
    expect(parsePublishedPort('')).toBeUndefined();
    expect(parsePublishedPort(':0')).toBeUndefined();
  });
});
