import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { Keys } from '../../lib/redis/keys.js';
import { appendLog } from '../../lib/redis/task-store.js';
import { LABELS, connectDocker } from '../../lib/spawner/docker-spawner.js';
import { busyboxImage, describeDocker, removeContainers } from '../support/docker.js';
import { runProcess } from '../support/run-process.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { until } from '../support/until.js';

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
const session = randomBytes(4).toString('hex');
// Every container this file starts carries it; afterAll removes them by it.
const SESSION_LABEL = `dan-test.logs-session=${session}`;

interface JsonLine { source: string; time: string; agent_id: string; domain: string; task_id?: string; line: string }

const dan = (args: string[], env: Record<string, string>) =>
  runProcess(process.execPath, [bin, ...args], { env: { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', ...env }, timeoutMs: 30_000 });

const parse = (stdout: string): JsonLine[] => stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as JsonLine);
// Only this file's lines: other containers of the network may run on the same engine.
const ours = (lines: JsonLine[]) => lines.filter((line) => line.line.includes(session));

describeDocker('dan logs with agents in containers', () => {
  const prefix = uniquePrefix('logs');
  const keys = new Keys(prefix);
  const domainId = randomBytes(4).toString('hex');
  const backendId = `backend-${domainId}`;
  const mainId = `main-${randomBytes(4).toString('hex')}`;
  const taskId = `task-${session}`;
  const env = { DAN_KEY_PREFIX: prefix };
  let docker: Docker;
  let redis: Awaited<ReturnType<typeof connectTestRedis>>;
  let signals: string;
  let backend: Docker.Container;

  const pino = (fields: Record<string, string>) => `echo '${JSON.stringify({ level: 'info', time: new Date().toISOString(), ...fields })}'`;
  const output = async (container: Docker.Container) => (await container.logs({ stdout: true, stderr: true, follow: false })).toString('utf8');

  beforeAll(async () => {
    docker = await connectDocker();
    const image = await busyboxImage();
    redis = await connectTestRedis(prefix);
    signals = mkdtempSync(path.join(os.tmpdir(), 'dan-logs-signal-'));
    chmodSync(signals, 0o755);
    backend = await docker.createContainer({
      name: `dan-test-backend-${session}`, Image: image,
      Cmd: ['sh', '-c', [
        pino({ agentId: backendId, domain: 'backend', taskId: `${taskId}-backend`, msg: `first from the container ${session}` }),
        'until [ -e /signals/go ]; do sleep 0.05; done',
        pino({ agentId: backendId, domain: 'backend', msg: `second from the container ${session}` }),
        'exec sleep 600',
      ].join('; ')],
      Labels: { [LABELS.managed]: 'true', [LABELS.domain]: 'backend', [LABELS.domainId]: domainId, [LABELS.network]: `net-${session}`, [SESSION_LABEL.split('=')[0] as string]: session },
      HostConfig: { NetworkMode: 'none', Binds: [`${signals}:/signals:ro`] },
    });
    const main = await docker.createContainer({
      name: `dan-test-main-${session}`, Image: image,
      Cmd: ['sh', '-c', `${pino({ agentId: mainId, domain: 'main', msg: `main orchestrator running ${session}` })}; exec sleep 600`],
      Labels: { [LABELS.role]: 'main', [SESSION_LABEL.split('=')[0] as string]: session },
      HostConfig: { NetworkMode: 'none' },
    });
    await main.start();
    await until('the main container to print', async () => (await output(main)).includes(session));
    await backend.start();
    await until('the first container line', async () => (await output(backend)).includes('first from the container'));
    await appendLog(redis.redis, keys, { taskId, agentId: mainId, domain: 'main', message: `routed to backend ${session}` });
    await appendLog(redis.redis, keys, { taskId: `${taskId}-backend`, agentId: backendId, domain: 'backend', message: `claimed task ${session}` });
    writeFileSync(path.join(signals, 'go'), '');
    await until('the second container line', async () => (await output(backend)).includes('second from the container'));
  });

  afterAll(async () => {
    await removeContainers(SESSION_LABEL);
    await redis?.cleanup();
    if (signals) rmSync(signals, { recursive: true, force: true });
  });

  it('merges the containers\' pino lines with the task log lines in time order, naming each agent', async () => {
    const run = await dan(['logs', '--no-follow', '--json', '-r', testRedisUrl()], env);
    expect(run.code, run.stderr).toBe(0);
    const lines = ours(parse(run.stdout));
    expect(lines.map((line) => [line.source, line.agent_id, line.domain])).toEqual([
      ['docker', mainId, 'main'],
      ['docker', backendId, 'backend'],
      ['redis', mainId, 'main'],
      ['redis', backendId, 'backend'],
      ['docker', backendId, 'backend'],
    ]);
    expect(lines[1]?.task_id).toBe(`${taskId}-backend`);
    expect(lines[3]).toMatchObject({ task_id: `${taskId}-backend`, line: expect.stringContaining(`${backendId}: claimed task`) });
    const times = lines.map((line) => Date.parse(line.time));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('keeps one domain\'s lines with -c, the main orchestrator\'s with --main, and a task\'s with --task', async () => {
    const byDomain = ours(parse((await dan(['logs', '--no-follow', '--json', '-c', 'backend', '-r', testRedisUrl()], env)).stdout));
    expect(byDomain.map((line) => `${line.source}:${line.agent_id}`)).toEqual([`docker:${backendId}`, `redis:${backendId}`, `docker:${backendId}`]);
    const mainOnly = parse((await dan(['logs', '--no-follow', '--json', '--main', '-r', testRedisUrl()], env)).stdout);
    expect(mainOnly.every((line) => line.domain === 'main')).toBe(true);
    expect(ours(mainOnly).map((line) => `${line.source}:${line.agent_id}`)).toEqual([`docker:${mainId}`, `redis:${mainId}`]);
    const byTask = ours(parse((await dan(['logs', '--no-follow', '--json', '--task', taskId, '-r', testRedisUrl()], env)).stdout));
    // The task's own Redis list, and the container lines that name it or its sub-task.
    expect(byTask.map((line) => `${line.source}:${line.agent_id}`)).toEqual([`docker:${backendId}`, `redis:${mainId}`]);
  });

  it('reads only the containers of DAN_NETWORK_ID when it is set', async () => {
    const run = await dan(['logs', '--no-follow', '--json', '--source', 'docker', '-r', 'redis://127.0.0.1:1'], { ...env, DAN_NETWORK_ID: `net-${session}` });
    expect(run.code, run.stderr).toBe(0);
    const lines = ours(parse(run.stdout));
    expect(lines.length).toBe(2);
    expect(lines.every((line) => line.agent_id === backendId)).toBe(true);
  });

  it('shows the human form with an agent prefix, and only container lines with --source docker', async () => {
    const run = await dan(['logs', '--no-follow', '--source', 'docker', '-c', backendId, '-r', 'redis://127.0.0.1:1'], env);
    expect(run.code, run.stderr).toBe(0);
    const shown = run.stdout.split('\n').filter((line) => line.includes(session));
    expect(shown).toHaveLength(2);
    expect(shown[0]).toMatch(new RegExp(`^${backendId} +\\d\\d:\\d\\d:\\d\\d\\.\\d{3} info  \\[task ${taskId}-backend\\] first from the container`));
  });

  it('follows: prints lines of a container that starts after it, and stops cleanly on SIGINT', async () => {
    const child = spawn(process.execPath, [bin, 'logs', '--json', '-n', '0', '-r', testRedisUrl()], { env: { PATH: process.env['PATH'], NO_COLOR: '1', ...env } });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const lateId = randomBytes(4).toString('hex');
      // Ready means its first read is done: only then is a container started, or a line added, new
      // to it (-n 0 skips what was there before). A marker line shows that: the Redis lines are
      // followed only after both first reads. Each try adds a new marker, since one added before
      // the first read is skipped.
      const marker = `marker-${randomBytes(4).toString('hex')}`;
      await until('dan logs to follow', async () => {
        if (stdout.includes(marker)) return true;
        await appendLog(redis.redis, keys, { taskId, agentId: mainId, domain: 'main', message: marker });
        return false;
      }, 60_000);
      const late = await docker.createContainer({
        name: `dan-test-late-${session}`, Image: await busyboxImage(),
        Cmd: ['sh', '-c', `${pino({ agentId: `frontend-${lateId}`, domain: 'frontend', msg: `late container ${session}` })}; exec sleep 600`],
        Labels: { [LABELS.managed]: 'true', [LABELS.domain]: 'frontend', [LABELS.domainId]: lateId, [SESSION_LABEL.split('=')[0] as string]: session },
        HostConfig: { NetworkMode: 'none' },
      });
      await late.start();
      await appendLog(redis.redis, keys, { taskId, agentId: mainId, domain: 'main', message: `while following ${session}` });
      await until('both new lines', async () => stdout.includes('late container') && stdout.includes('while following'), 60_000);
      // -n 0: nothing from before the command started.
      expect(ours(parse(stdout)).map((line) => `${line.source}:${line.agent_id}`).sort()).toEqual([`docker:frontend-${lateId}`, `redis:${mainId}`]);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  }, 150_000);
});

describe('dan logs without a Docker engine', () => {
  const env = { DAN_KEY_PREFIX: uniquePrefix('logs-nodocker'), DOCKER_HOST: `unix://${path.join(os.tmpdir(), `no-docker-${session}.sock`)}` };

  it('shows the Redis lines only by default', async () => {
    const prefix = env.DAN_KEY_PREFIX;
    const { redis, cleanup } = await connectTestRedis(prefix);
    try {
      await appendLog(redis, new Keys(prefix), { taskId: 't-1', agentId: 'main-00000000', domain: 'main', message: 'only redis' });
      const run = await dan(['logs', '--no-follow', '-r', testRedisUrl()], env);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/^main-00000000 +t-1 \[[^\]]+\] main-00000000: only redis$/m);
      expect(run.stderr).toBe('');
      const verbose = await dan(['logs', '--no-follow', '-v', '-r', testRedisUrl()], env);
      expect(verbose.stderr).toMatch(/no Docker engine answers at unix:\/\/.*showing the Redis lines only/s);
    } finally {
      await cleanup();
    }
  });

  it('fails with exit 3 and the reason when --source docker is asked for', async () => {
    const run = await dan(['logs', '--no-follow', '--source', 'docker'], env);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/^dan: no Docker engine answers at unix:\/\/.*no-docker-.*\.sock .*start the engine/);
  });
});
