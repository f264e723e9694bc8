import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { REDIS_AUTH_FILE, type RedisAuth } from '../../src/cli/redis-auth-file.js';
import { freePort, redisServerOnPath } from '../../src/cli/local-redis.js';
import { testRedisUrl, uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';
import { asNobody, listeningSockets, modesUnder, processTree } from './host-kit.js';

/**
 * The audit's host attempts against a real `dan up` (no API key, no Redis: its private redis-server
 * and in-process model server), started under umask 000 so that only the modes dan chooses protect
 * its files. "Another local user" is nobody, through setpriv, as in the audit.
 */

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
// The audit's marker: a prompt a local user must not read back from the model server.
const CODENAME = 'SECRET-PROJECT-CODENAME';
const LOOPBACK = ['127.0.0.1', '::1'];
let dir: string;
let up: ChildProcess;
let upLog = '';
let upExit: Promise<number | null>;
let redisPort: number;

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', DAN_LOG_FORMAT: 'json',
    DAN_KEY_PREFIX: '', ANTHROPIC_API_KEY: '', DAN_LLM: 'local', DAN_WORKSPACE: path.join(dir, 'workspace'),
    DAN_SHUTDOWN_GRACE_MS: '3000', ...extra,
  };
}

const auth = (): RedisAuth => JSON.parse(readFileSync(path.join(dir, REDIS_AUTH_FILE), 'utf8')) as RedisAuth;

/** The url of `dan up`'s in-process model server, from its start-up line. */
function modelUrl(): string {
  const url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*local model server listening/.exec(upLog)?.[1];
  if (!url) throw new Error(`dan up printed no local model server url:\n${upLog}`);
  return url;
}

describe.skipIf(!redisServerOnPath())('dan up on a shared host (no API key, no Redis)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dan-host-'));
    // Other users may reach the folder, as a project folder usually allows: only `.dan` itself protects.
    chmodSync(dir, 0o755);
    redisPort = await freePort();
    up = spawn('sh', ['-c', 'umask 000 && exec "$0" "$@"', process.execPath, bin, 'up'], { cwd: dir, env: env({ REDIS_URL: `redis://127.0.0.1:${redisPort}` }) });
    up.stdout?.on('data', (chunk: Buffer) => { upLog += chunk.toString(); });
    up.stderr?.on('data', (chunk: Buffer) => { upLog += chunk.toString(); });
    upExit = new Promise((resolve) => up.once('exit', (code) => resolve(code)));
    await until('dan up to be up', async () => upLog.includes('network up') || up.exitCode !== null, 60_000);
    expect(upLog).toContain('network up');
    // A model task through main: the prompt reaches the model server, the append-only file and ELF.
    const sent = await runProcess(process.execPath, [bin, 'send', 'main', `Create a health api endpoint for ${CODENAME}`, '--wait', '-t', '120'], { cwd: dir, env: env(), timeoutMs: 150_000 });
    expect(sent.code, sent.stderr).toBe(0);
  }, 240_000);

  afterAll(async () => {
    up?.kill('SIGTERM');
    expect(await upExit).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('[audit #54] keeps the append-only file, the ELF memory and the passwords to their owner, whatever the umask', async () => {
    const dan = path.join(dir, '.dan');
    await until('the ELF memory to be written', async () => existsSync(path.join(dan, 'elf')) && modesUnder(path.join(dan, 'elf')).some((f) => f.file.endsWith('-wal')), 60_000);
    const entries = modesUnder(dan);
    expect(entries.some((f) => f.file.includes(`${path.sep}appendonlydir${path.sep}`))).toBe(true);
    for (const entry of entries) expect(`${path.relative(dir, entry.file)} ${(entry.mode).toString(8)}`).toBe(`${path.relative(dir, entry.file)} ${entry.folder ? '700' : '600'}`);
    const aof = entries.find((f) => f.file.includes('appendonlydir') && !f.folder)?.file as string;
    const elf = entries.find((f) => f.file.endsWith('-wal'))?.file as string;
    for (const file of [aof, elf, path.join(dir, REDIS_AUTH_FILE)]) {
      const read = await asNobody('cat', [file]);
      expect(read.code).not.toBe(0);
      expect(read.stderr).toMatch(/Permission denied/);
    }
  });

  it('[audit #56] listens on loopback only: its redis-server and its model server', () => {
    const sockets = listeningSockets(processTree(up.pid as number));
    expect(sockets.map((s) => s.port)).toEqual(expect.arrayContaining([redisPort, Number(new URL(modelUrl()).port)]));
    for (const socket of sockets) expect(LOOPBACK, `${socket.address}:${socket.port}`).toContain(socket.address);
  });

  it("[audit #57] another local user's raw LPUSH of a farm task with a problems_command is refused NOAUTH, and nothing runs", async () => {
    const marker = path.join(dir, 'nobody-rce.txt');
    const task = JSON.stringify({ task_id: 'nobody-rce', payload: { description: 'Fix every lint error', context: { path: dir, runtime: 'sdk', problems_command: `id > ${marker}; exit 1` } } });
    const push = await asNobody('redis-cli', ['-p', String(redisPort), 'LPUSH', 'tasks:pending:farm', task]);
    expect(push.stdout + push.stderr).toMatch(/NOAUTH/);
    // Nor can that user take a password from the file that holds them.
    const steal = await asNobody('cat', [path.join(dir, REDIS_AUTH_FILE)]);
    expect(steal.stdout).toBe('');
    const admin = await runProcess('redis-cli', ['-p', String(redisPort), 'LLEN', 'tasks:pending:farm'], { env: { PATH: process.env['PATH'], REDISCLI_AUTH: auth().passwords.admin } });
    expect(admin.stdout.trim()).toBe('0');
    expect(existsSync(marker)).toBe(false);
  });

  it("[audit #58] another local user can neither read nor clear the prompts the model server received", async () => {
    const read = await asNobody('curl', ['-s', '-w', '\n%{http_code}', `${modelUrl()}/_dan/requests`]);
    expect(read.stdout.trim().split('\n').at(-1)).toBe('404');
    expect(read.stdout).not.toContain(CODENAME);
    const cleared = await asNobody('curl', ['-s', '-w', '\n%{http_code}', '-X', 'DELETE', `${modelUrl()}/_dan/requests`]);
    expect(cleared.stdout.trim().split('\n').at(-1)).toBe('404');
    expect(cleared.stdout).not.toMatch(/cleared/);
  });

  it('[audit #53 #60] dan inspect --local: no password on the command line ps shows; the UI on loopback, behind a login, as the read-only viewer', async () => {
    // The audit's stand-in: a redis-commander on the PATH that serves a page on --address:--port.
    const fakeBin = path.join(dir, 'fake-bin');
    mkdirSync(fakeBin, { mode: 0o755 });
    writeFileSync(path.join(fakeBin, 'redis-commander'), [
      `#!${process.execPath}`,
      "const a = process.argv; const opt = (n) => a[a.indexOf(n) + 1];",
      "require('node:http').createServer((q, s) => s.end('stand-in')).listen(Number(opt('--port')), opt('--address'));",
    ].join('\n'), { mode: 0o755 });
    const uiPort = await freePort();
    const inspect = spawn(process.execPath, [bin, 'inspect', '--local', '-p', String(uiPort)], { cwd: dir, env: env({ PATH: `${fakeBin}${path.delimiter}${process.env['PATH'] ?? ''}` }) });
    let out = '';
    inspect.stdout?.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    inspect.stderr?.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    try {
      await until('dan inspect to print the url', async () => out.includes(`http://127.0.0.1:${uiPort}`) || inspect.exitCode !== null, 30_000);
      expect(out).toContain(`Redis Commander: http://127.0.0.1:${uiPort}`);
      const uiPassword = /log in as dan, password (\S+)\)/.exec(out)?.[1] ?? '';
      expect(uiPassword).not.toBe('');
      const ps = await asNobody('ps', ['-eo', 'args']);
      const standIn = ps.stdout.split('\n').find((line) => line.includes(path.join(fakeBin, 'redis-commander')));
      expect(standIn).toContain(`--address 127.0.0.1 --port ${uiPort}`);
      for (const password of [...Object.values(auth().passwords), uiPassword]) expect(ps.stdout).not.toContain(password);
      expect(ps.stdout).not.toMatch(/--redis-password/);
      // Its credentials are in its environment, which only its own user may read...
      const pid = processTree(inspect.pid as number).find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('fake-bin'));
      const environ = await asNobody('cat', [`/proc/${pid}/environ`]);
      expect(environ.stdout).toBe('');
      // ...they are the viewer's, which may read and never write, and the page asks for the login printed.
      const config = /NODE_CONFIG=([^\0]*)/.exec(readFileSync(`/proc/${pid}/environ`, 'utf8'))?.[1] ?? '';
      expect(JSON.parse(config)).toMatchObject({
        server: { httpAuth: { username: 'dan', password: uiPassword } },
        connections: [{ username: 'viewer', password: auth().passwords.viewer }],
      });
      const sockets = listeningSockets(processTree(inspect.pid as number));
      expect(sockets.map((s) => s.port)).toContain(uiPort);
      for (const socket of sockets) expect(LOOPBACK).toContain(socket.address);
    } finally {
      inspect.kill('SIGTERM');
    }
  });
});

describe('dan up with an API key and a Redis that runs', () => {
  it('[audit #55] listens on nothing but its model gateway, on 127.0.0.1', async () => {
    const prefix = uniquePrefix('host');
    const workspace = mkdtempSync(path.join(os.tmpdir(), 'dan-host-key-'));
    // The key is never used: no task is sent, and the base URL leads nowhere.
    const keyed = spawn(process.execPath, [bin, 'up'], {
      cwd: workspace,
      env: {
        PATH: process.env['PATH'], HOME: process.env['HOME'], DAN_LOG_FORMAT: 'json', DAN_KEY_PREFIX: prefix, DAN_ELF: 'off',
        REDIS_URL: testRedisUrl(), ANTHROPIC_API_KEY: 'sk-ant-api03-TESTSECRETxyzzy0123456789abcdefABCDEF',
        ANTHROPIC_BASE_URL: 'http://127.0.0.1:9', DAN_WORKSPACE: workspace, DAN_SHUTDOWN_GRACE_MS: '2000',
      },
    });
    let log = '';
    keyed.stdout?.on('data', (chunk: Buffer) => { log += chunk.toString(); });
    keyed.stderr?.on('data', (chunk: Buffer) => { log += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => keyed.once('exit', (code) => resolve(code)));
    try {
      await until('dan up to be up', async () => log.includes('network up') || keyed.exitCode !== null, 60_000);
      expect(log).toContain('network up');
      // The one door agents use to reach the model; the key itself stays in this process.
      const gateway = /"url":"http:\/\/127\.0\.0\.1:(\d+)"[^\n]*"msg":"model gateway listening"/.exec(log);
      expect(gateway, log).not.toBeNull();
      expect(listeningSockets(processTree(keyed.pid as number))).toEqual([{ address: '127.0.0.1', port: Number(gateway?.[1]) }]);
    } finally {
      keyed.kill('SIGTERM');
      expect(await exited).toBe(0);
      rmSync(workspace, { recursive: true, force: true });
    }
  }, 90_000);
});
