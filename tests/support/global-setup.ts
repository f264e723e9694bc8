import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort } from '../../src/cli/local-redis.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A private redis-server for this test run, or '' when none could be started. */
    redisUrl: string;
    redisProblem: string;
  }
}

async function waitForPort(port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

let redis: ChildProcess | undefined;
let dir: string | undefined;

/** Starts one redis-server for the whole run; every test then works under its own key prefix. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const port = await freePort();
  dir = mkdtempSync(path.join(os.tmpdir(), 'dan-test-redis-'));
  let problem = '';
  try {
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: 'ignore',
    });
    redis.once('error', (error) => { problem = `redis-server could not start: ${error.message}`; });
    const up = await waitForPort(port, 10_000);
    if (!up && !problem) problem = 'redis-server did not answer within 10 s';
  } catch (error) {
    problem = `redis-server could not start: ${(error as Error).message}`;
  }
  project.provide('redisUrl', problem ? '' : `redis://127.0.0.1:${port}`);
  project.provide('redisProblem', problem ? `${problem} (install it with 'apt-get install -y redis-server')` : '');
  return async () => {
    redis?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
}
