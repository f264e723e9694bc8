import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { freePort } from '../../src/cli/local-redis.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';

/**
 * Redis with a password, and Redis over TLS with a private CA, reached through REDIS_URL alone: the
 * whole network (`dan up` and the domains it spawns, `dan send --wait`) works over both, a wrong
 * password is a one-line error with exit 3, and the password shows nowhere in any output.
 */

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
const PASSWORD = 'pw-Zq8-correct-horse';
let dir: string;
const servers: ChildProcess[] = [];

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

async function startRedis(args: string[], port: number): Promise<void> {
  const child = spawn('redis-server', ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args], { stdio: 'ignore' });
  servers.push(child);
  await until(`redis-server on port ${port}`, () => portOpen(port), 15_000);
}

/** A CA and a server certificate for 127.0.0.1 and localhost, made with openssl for this run only. */
function makeCertificates(): { ca: string; cert: string; key: string } {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl('req', '-x509', '-new', '-nodes', '-newkey', 'rsa:2048', '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '1', '-subj', '/CN=dan test CA');
  openssl('req', '-new', '-nodes', '-newkey', 'rsa:2048', '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost');
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.crt'), '-days', '1', '-extfile', file('server.ext'));
  return { ca: file('ca.crt'), cert: file('server.crt'), key: file('server.key') };
}

function env(redisUrl: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', DAN_LOG_FORMAT: 'json',
    REDIS_URL: redisUrl, DAN_KEY_PREFIX: '', ANTHROPIC_API_KEY: '', DAN_LLM: 'local', DAN_ELF: 'off',
    DAN_WORKSPACE: path.join(dir, 'workspace'), DAN_SHUTDOWN_GRACE_MS: '3000',
    ...extra,
  };
}

/** `dan up` on `redisUrl`, one task sent and waited for with `dan send --wait`, then SIGTERM: everything it printed. */
async function runNetworkOnce(redisUrl: string, extra: Record<string, string> = {}): Promise<string> {
  const up = spawn(process.execPath, [bin, 'up', '--no-start-redis'], { cwd: dir, env: env(redisUrl, extra) });
  let log = '';
  up.stdout.on('data', (chunk: Buffer) => { log += chunk.toString(); });
  up.stderr.on('data', (chunk: Buffer) => { log += chunk.toString(); });
  const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
  try {
    await until('dan up to be up', async () => log.includes('network up') || up.exitCode !== null, 60_000);
    expect(log).toContain('network up');
    const sent = await runProcess(process.execPath, [bin, 'send', 'main', 'Create a health endpoint', '--wait', '-t', '120'], { env: env(redisUrl, extra), timeoutMs: 120_000 });
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toMatch(/completed/);
    expect(log).toMatch(/"msg":"domain orchestrator ready"/);
    log += sent.stdout + sent.stderr;
  } finally {
    up.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  return log;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dan-redis-security-'));
});

afterAll(() => {
  for (const server of servers) server.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

describe('Redis with a password', () => {
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    await startRedis(['--port', String(port), '--requirepass', PASSWORD], port);
  });

  it('runs the whole network through redis://:password@host:port, and never prints the password', async () => {
    const output = await runNetworkOnce(`redis://:${PASSWORD}@127.0.0.1:${port}`);
    expect(output).not.toContain(PASSWORD);
  }, 180_000);

  it('a wrong password: one clear line, exit 3, no password shown, from the CLI and from dan up', async () => {
    for (const args of [['send', 'main', 'hello'], ['agents'], ['up', '--no-start-redis'], ['up']]) {
      const run = await runProcess(process.execPath, [bin, ...args], { env: env(`redis://:wrong-${PASSWORD}@127.0.0.1:${port}`), timeoutMs: 60_000 });
      expect(run.code, `dan ${args.join(' ')}: ${run.stderr}`).toBe(3);
      const lines = run.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^dan: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ refused the credentials in REDIS_URL .*check the password/);
      expect(run.stdout + run.stderr).not.toContain(PASSWORD);
    }
  }, 120_000);

  it('no password where one is needed: says so, exit 3', async () => {
    const run = await runProcess(process.execPath, [bin, 'agents'], { env: env(`redis://127.0.0.1:${port}`) });
    expect(run.code).toBe(3);
    expect(run.stderr.trim()).toMatch(/^dan: Redis at redis:\/\/127\.0\.0\.1:\d+ requires a password: put it in REDIS_URL/);
  });
});

describe('Redis over TLS with a private CA (rediss://)', () => {
  let port: number;
  let ca: string;

  beforeAll(async () => {
    const files = makeCertificates();
    ca = files.ca;
    port = await freePort();
    await startRedis([
      '--port', '0', '--tls-port', String(port), '--tls-cert-file', files.cert, '--tls-key-file', files.key,
      '--tls-ca-cert-file', files.ca, '--tls-auth-clients', 'no', '--requirepass', PASSWORD,
    ], port);
  });

  it('runs the whole network through rediss://:password@host:port with NODE_EXTRA_CA_CERTS', async () => {
    const output = await runNetworkOnce(`rediss://:${PASSWORD}@127.0.0.1:${port}`, { NODE_EXTRA_CA_CERTS: ca });
    expect(output).not.toContain(PASSWORD);
  }, 180_000);

  it('without the CA: one line naming the certificate problem and NODE_EXTRA_CA_CERTS, exit 3', async () => {
    const run = await runProcess(process.execPath, [bin, 'agents'], { env: env(`rediss://:${PASSWORD}@127.0.0.1:${port}`) });
    expect(run.code).toBe(3);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/TLS certificate this machine does not trust .*NODE_EXTRA_CA_CERTS/);
    expect(run.stderr).not.toContain(PASSWORD);
  });

  it('plain redis:// to the TLS port does not pass for a working connection: exit 3', async () => {
    const run = await runProcess(process.execPath, [bin, 'agents'], { env: env(`redis://:${PASSWORD}@127.0.0.1:${port}`) });
    expect(run.code).toBe(3);
    expect(run.stderr).not.toContain(PASSWORD);
  }, 60_000);
});
