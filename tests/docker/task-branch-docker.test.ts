import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import { silentLogger } from '../../lib/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { ResultWatcher } from '../../lib/redis/result-watcher.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { freePort, startLockedRedisServer } from '../../src/cli/local-redis.js';
import { runNetwork, type RunningNetwork } from '../../src/main/run-network.js';
import { describeDocker, testAgentImage } from '../support/docker.js';
import { uniquePrefix } from '../support/redis.js';

// The agent image carries git, so a domain container gives each task its own branch of a git
// workspace, as a domain process does; a repository its uid cannot write keeps the folder behaviour.
const AGENT_UID = 1000;
// The test reads repositories another uid owns (the agent's), as that uid's checkout would be read.
const git = (dir: string, ...args: string[]) => execFileSync('git', ['-c', 'safe.directory=*', '-C', dir, ...args], { encoding: 'utf8' }).trim();

function makeRepo(dir: string): void {
  mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  writeFileSync(path.join(dir, 'README.md'), '# repo\n');
  git(dir, 'add', '-A');
  git(dir, '-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '-m', 'first');
}

function chownTree(dir: string, uid: number): void {
  execFileSync('chown', ['-R', `${uid}:${uid}`, dir]);
}

describeDocker('task branches in a domain container', () => {
  const prefix = uniquePrefix('tbd');
  const keys = new Keys(prefix);
  let lockedRedis: Awaited<ReturnType<typeof startLockedRedisServer>>;
  let redis: Redis;
  let subscriber: Redis;
  let watcher: ResultWatcher;
  let model: LocalModelServer;
  let network: RunningNetwork;
  let workspace: string;
  let redisDir: string;

  beforeAll(async () => {
    redisDir = mkdtempSync(path.join(os.tmpdir(), 'dan-tbd-redis-'));
    lockedRedis = await startLockedRedisServer(await freePort(), silentLogger, { dir: redisDir, persist: false, keyPrefix: prefix });
    redis = new Redis(lockedRedis.url, { maxRetriesPerRequest: 1 });
    subscriber = redis.duplicate();
    watcher = new ResultWatcher(redis, subscriber, keys, 500);
    model = new LocalModelServer();
    await model.start();
    workspace = mkdtempSync(path.join(os.tmpdir(), 'dan-tbd-ws-'));
    chmodSync(workspace, 0o777);
    // A repository the agent's uid owns (as one a developer checks out), and one it cannot write.
    makeRepo(path.join(workspace, 'owned'));
    chownTree(path.join(workspace, 'owned'), AGENT_UID);
    makeRepo(path.join(workspace, 'foreign'));
    chmodSync(path.join(workspace, 'foreign'), 0o777);
    const env: Record<string, string> = {
      REDIS_URL: lockedRedis.url, DAN_KEY_PREFIX: prefix, DAN_WORKSPACE: workspace, DAN_SPAWNER: 'docker',
      DAN_AGENT_IMAGE: testAgentImage(), DAN_NETWORK_ID: `tbd-${prefix}`, DAN_ROLES: 'coder,docs', DAN_WORKERS_PER_TASK: '1',
      ANTHROPIC_API_KEY: 'local-model-key', ANTHROPIC_BASE_URL: model.url!, DAN_ELF: 'off', DAN_LOG_LEVEL: 'warn',
      DAN_HEARTBEAT_INTERVAL_MS: '500', DAN_HEARTBEAT_TTL_MS: '3000', DAN_SUPERVISE_INTERVAL_MS: '200',
      DAN_SPAWN_TIMEOUT_MS: '60000', DAN_DOMAIN_IDLE_MS: '600000', DAN_SHUTDOWN_GRACE_MS: '3000',
    };
    network = await runNetwork({ config: loadConfig({}, env), logger: silentLogger, redisUrl: lockedRedis.url, agentRedisUrl: lockedRedis.agentUrl, env: { ...process.env, ...env } });
  }, 120_000);

  afterAll(async () => {
    watcher?.close();
    subscriber?.disconnect();
    await network?.stop();
    await model?.stop();
    redis?.disconnect();
    await lockedRedis?.stop();
    rmSync(workspace, { recursive: true, force: true });
    rmSync(redisDir, { recursive: true, force: true });
  }, 60_000);

  async function run(folder: string): Promise<{ taskId: string; status: string | null; output: Record<string, unknown>; logs: string }> {
    const { taskId } = await submitTask(redis, keys, { domain: 'backend', description: 'Create a health endpoint', context: { workspace: folder } });
    await watcher.wait(taskId, AbortSignal.timeout(120_000));
    const output = JSON.parse((await redis.hget(keys.result(taskId), 'output')) ?? '{}') as Record<string, unknown>;
    const logs = (await redis.lrange(keys.logs(taskId), 0, -1)).join('\n');
    return { taskId, status: await redis.hget(keys.result(taskId), 'status'), output, logs };
  }

  it("works on dan/<id> in the container and merges into the repository's branch", async () => {
    const repo = path.join(workspace, 'owned');
    const { taskId, status, output, logs } = await run('owned');
    expect(status, logs).toBe('completed');
    expect(output).toMatchObject({ branch: `dan/${taskId}`, delivery: 'merged', merged_into: 'main' });
    expect(logs).toContain(`working on branch dan/${taskId}`);
    const files = output['files_created'] as string[];
    expect(files.length).toBeGreaterThan(0);
    // Merged on the host's checkout, by the container's git, with the network's author.
    expect(git(repo, 'log', '--format=%an %s', '-2')).toMatch(new RegExp(`dan dan ${taskId}`));
    expect(readFileSync(path.join(repo, files[0]!), 'utf8').length).toBeGreaterThan(0);
    expect(git(repo, 'status', '--porcelain')).toBe('');
    expect(git(repo, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree '))).toHaveLength(1);
  });

  it('works in the folder itself, saying why, when the repository is not writable by the agent', async () => {
    const repo = path.join(workspace, 'foreign');
    const { status, output, logs } = await run('foreign');
    expect(status, logs).toBe('completed');
    expect(output['branch']).toBeUndefined();
    expect(logs).toMatch(/is not writable by this agent \(uid 1000\): the task works in the folder itself/);
    expect(git(repo, 'branch', '--list', 'dan/*')).toBe('');
    expect(git(repo, 'status', '--porcelain')).not.toBe('');
  });
});
