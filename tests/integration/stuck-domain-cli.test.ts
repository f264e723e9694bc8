import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';

const root = packageRoot();
const bin = path.join(root, 'dist/bundle/cli.mjs');
const prefix = uniquePrefix('stuck');
const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-stuck-'));
const agentsDir = path.join(dir, 'agents');
const env: NodeJS.ProcessEnv = {
  PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1',
  REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix, DAN_AGENTS_DIR: agentsDir, DAN_WORKSPACE: path.join(dir, 'workspace'),
  DAN_ELF_DIR: path.join(dir, 'elf'), DAN_SPAWNER: 'process', ANTHROPIC_API_KEY: '', DAN_LOG_FORMAT: 'json', DAN_SUPERVISE_INTERVAL_MS: '100',
};
const dan = (args: string[]) => runProcess(process.execPath, [bin, ...args], { env, timeoutMs: 60_000 });

// `dan up -q`: the console shows none of the domains' output, so what follows must come from Redis.
const up = { log: '', child: undefined as ReturnType<typeof spawn> | undefined };

beforeAll(async () => {
  cpSync(path.join(root, 'agents'), agentsDir, { recursive: true });
  up.child = spawn(process.execPath, [bin, 'up', '-q', '--no-start-redis'], { cwd: dir, env });
  up.child.stderr?.on('data', (chunk: Buffer) => { up.log += chunk.toString(); });
  await until('dan up to be up', async () => up.log.includes('network up') || up.child?.exitCode !== null, 60_000);
  expect(up.log).toContain('network up');
  // Broken after main loaded the catalog: every backend agent now exits at start (a crash loop).
  writeFileSync(path.join(agentsDir, 'backend', 'domain.md'), '---\nname: [not closed\n---\n');
}, 90_000);

afterAll(async () => {
  if (up.child && up.child.exitCode === null) {
    const exited = new Promise((resolve) => up.child?.once('exit', resolve));
    up.child.kill('SIGTERM');
    await exited;
  }
  const { cleanup } = await connectTestRedis(prefix);
  await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('a task waiting for a domain that cannot start', () => {
  it('says why in dan send --wait, dan status and dan agents, and dan logs shows the agent\'s own output', async () => {
    const send = spawn(process.execPath, [bin, 'send', 'backend', 'Create a health endpoint', '--wait'], { env });
    let progress = '';
    send.stderr.on('data', (chunk: Buffer) => { progress += chunk.toString(); });
    const sendExited = new Promise((resolve) => send.once('exit', resolve));
    try {
      await until('send --wait to say why', async () => progress.includes('domain backend cannot start'), 60_000);
      expect(progress).toMatch(/domain backend cannot start: exited before its first heartbeat \(code \d+\) \(agent backend-[0-9a-f]{8}, /);
      expect(progress).toMatch(/domain\.md/);
      const taskId = /queued (\S+) for backend/.exec(progress)?.[1] ?? '';
      const status = await dan(['status', taskId.slice(0, 8)]);
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toMatch(new RegExp(`task ${taskId}: pending`));
      expect(status.stdout).toMatch(/domain backend cannot start: exited before its first heartbeat/);
      expect(status.stdout).toMatch(/domain\.md/);
      const agents = await dan(["agents"]); console.log(progress, status.stdout, agents.stdout);
      expect(agents.stdout).toMatch(/domain backend cannot start: exited before its first heartbeat/);
      // The agent's own output reaches dan logs, as a container's would, though dan up is quiet.
      const logs = await dan(['logs', '--no-follow', '--source', 'redis', '-c', 'backend', '--grep', 'domain\\.md']);
      expect(logs.code, logs.stderr).toBe(0);
      expect(logs.stdout).toMatch(/^backend-[0-9a-f]{8} .*domain\.md/m);
      expect(up.log).not.toMatch(/domain\.md/);
    } finally {
      send.kill('SIGINT');
      await sendExited;
    }
  });
});
