import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { LABELS } from '../../lib/spawner/docker-spawner.js';
import { runProcess } from '../support/run-process.js';
import { busyboxImage, describeDocker, removeContainers, runCommand } from '../support/docker.js';
import { testRedisUrl, uniquePrefix } from '../support/redis.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
const session = randomBytes(4).toString('hex');

/** npx needs the user's npm settings (registry, CA bundle), so the environment is passed through. */
function danEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, NO_COLOR: '1', DAN_KEY_PREFIX: uniquePrefix('inspect'), ...extra };
}

const dan = (args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000) => runProcess(process.execPath, [bin, ...args], { env, timeoutMs });

/** Command lines of the Redis Commander processes listening on `port`. */
async function redisCommanderProcesses(port: number): Promise<string[]> {
  const ps = await runCommand('ps', ['-e', '-o', 'args=']);
  return ps.stdout.split('\n').filter((line) => line.includes('redis-commander') && line.includes(`--port ${port} `));
}

describe('dan inspect --local', () => {
  it('serves Redis Commander for the test Redis on a free port, and leaves nothing running after Ctrl-C', async () => {
    const redisUrl = testRedisUrl();
    const child = spawn(process.execPath, [bin, 'inspect', '--local', '--port', '0', '--json', '-r', redisUrl], { env: danEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let port = 0;
    try {
      // The first run downloads redis-commander through npx.
      for (let i = 0; i < 600 && !stdout.includes('\n') && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 200));
      expect(stdout, stderr).toMatch(/^\{.*\}\n$/);
      const shown = JSON.parse(stdout) as { url: string; mode: string };
      expect(shown.mode).toBe('local');
      expect(shown.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      port = Number(new URL(shown.url).port);
      const page = await fetch(shown.url);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/Redis Commander/);
      const running = await redisCommanderProcesses(port);
      expect(running.length).toBeGreaterThan(0);
      expect(running.join('\n')).toContain(`--redis-port ${new URL(redisUrl).port}`);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited, stderr).toBe(0);
    expect(await redisCommanderProcesses(port)).toEqual([]);
    await expect(fetch(`http://127.0.0.1:${port}`)).rejects.toThrow();
  }, 150_000);

  it('exits 3 at once, naming the URL, when Redis does not answer', async () => {
    const started = Date.now();
    const run = await dan(['inspect', '--local', '-r', 'redis://127.0.0.1:1'], danEnv());
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('REDIS_URL is not reachable (redis://127.0.0.1:1)');
    // Well under the 3 s connect timeout: a refused connection is known at once.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('exits 1 with the reason and its last output when Redis Commander cannot start', async () => {
    // An installed redis-commander (found on the PATH first) that fails at once.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-rc-broken-'));
    writeFileSync(path.join(dir, 'redis-commander'), '#!/bin/sh\necho "Error: Cannot find module express" >&2\nexit 7\n', { mode: 0o755 });
    try {
      const run = await dan(['inspect', '--local', '--port', '0', '-r', testRedisUrl()], danEnv({ PATH: `${dir}${path.delimiter}${process.env['PATH'] ?? ''}` }));
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/Redis Commander could not be started: it exited \(code 7\); its last output:\n {2}Error: Cannot find module express/);
      expect(run.stderr).toContain(`What to do: run '${path.join(dir, 'redis-commander')} --help' to check the installation`);
      expect(run.stdout).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 1 with what to do when the port is taken', async () => {
    const server = (await import('node:net')).createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const run = await dan(['inspect', '--local', '--port', String(port), '-r', testRedisUrl()], danEnv());
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`port ${port} on 127.0.0.1 is in use`);
      expect(run.stderr).toContain('--port 0');
    } finally {
      server.close();
    }
  });
});

describeDocker('dan inspect with the network in compose', () => {
  // Compose lower-cases project names and allows only [a-z0-9_-].
  const project = `dan-test-inspect-${session}`;
  const sessionLabel = 'dan-test.inspect-session';
  let dir = '';
  let file = '';
  const compose = (...args: string[]) => runCommand('docker-compose', ['-p', project, '-f', file, ...args], { timeoutMs: 120_000 });

  beforeAll(async () => {
    const image = await busyboxImage();
    dir = mkdtempSync(path.join(os.tmpdir(), 'dan-inspect-compose-'));
    file = path.join(dir, 'docker-compose.yml');
    // A stand-in for the real file: a main orchestrator service, and a redis-ui in the debug profile
    // (busybox httpd on host networking, so every byte stays on 127.0.0.1).
    writeFileSync(file, [
      'services:',
      '  main:',
      `    image: ${image}`,
      '    command: ["sleep", "600"]',
      '    network_mode: none',
      `    labels: { "${LABELS.role}": "main", "${sessionLabel}": "${session}" }`,
      '  redis-ui:',
      `    image: ${image}`,
      '    profiles: ["debug"]',
      '    network_mode: host',
      '    command: ["sh", "-c", "mkdir -p /tmp/www && echo \'<title>Redis Commander</title>\' > /tmp/www/index.html && exec httpd -f -p 127.0.0.1:8081 -h /tmp/www"]',
      `    labels: { "${sessionLabel}": "${session}" }`,
      '',
    ].join('\n'));
    const up = await compose('up', '-d', 'main');
    if (up.code !== 0) throw new Error(`docker-compose up main failed: ${up.stderr}`);
  });

  afterAll(async () => {
    if (file) await compose('--profile', 'debug', 'down', '-t', '1');
    await removeContainers(`${sessionLabel}=${session}`);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("starts the project's redis-ui service when its main orchestrator runs, and prints the URL", async () => {
    const run = await dan(['inspect', '--json', '-r', testRedisUrl()], danEnv(), 90_000);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ url: 'http://localhost:8081', mode: 'compose' });
    const ui = await runCommand('docker', ['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--filter', 'label=com.docker.compose.service=redis-ui', '--format', '{{.Names}}']);
    expect(ui.stdout.trim()).not.toBe('');
  });
});
