import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../../lib/config.js';
import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import { silentLogger } from '../../lib/logger.js';
import type { SpawnedAgent } from '../../lib/spawner/spawner.js';
import { LABELS } from '../../lib/spawner/docker-spawner.js';
import type { LocalRedis } from '../cli/local-redis.js';
import { freePort, startRedisServer } from '../cli/local-redis.js';
import type { RunningNetwork } from '../main/run-network.js';
import { runNetwork } from '../main/run-network.js';
import { chaosRules } from './chaos-rules.js';
import type { SeededRandom } from './seeded-random.js';

const run = promisify(execFile);

export type SpawnerKind = 'process' | 'docker' | 'swarm';

/**
 * Everything one chaos run starts, and how it is torn down: a private redis-server with append-only
 * persistence (restartable on the same port and folder), the local model server with slow worker
 * turns, and the network as `dan up` runs it (main orchestrator in this process, domains through the
 * chosen spawner, labelled with a network id of their own).
 */
export class ChaosNetwork {
  /** Every domain agent seen running, by id: process id or container id. */
  readonly seen = new Map<string, SpawnedAgent>();
  private watch: NodeJS.Timeout | undefined;

  private constructor(
    readonly kind: SpawnerKind,
    public redisServer: LocalRedis,
    readonly port: number,
    readonly dataDir: string,
    readonly workspace: string,
    readonly elfDir: string,
    readonly model: LocalModelServer,
    readonly network: RunningNetwork,
    readonly networkId: string,
  ) {
    const record = () => { for (const agent of network.spawner.list()) this.seen.set(agent.agentId, agent); };
    this.watch = setInterval(record, 100);
    this.watch.unref();
  }

  get redisUrl(): string {
    return this.redisServer.url;
  }

  static async start(kind: SpawnerKind, random: SeededRandom, modelDelayMs: [number, number]): Promise<ChaosNetwork> {
    const port = await freePort();
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'dan-chaos-redis-'));
    const workspace = mkdtempSync(path.join(os.tmpdir(), 'dan-chaos-ws-'));
    const elfDir = mkdtempSync(path.join(os.tmpdir(), 'dan-chaos-elf-'));
    // Domain containers run as uid 1000 and write into the bind-mounted workspace.
    chmodSync(workspace, 0o777);
    chmodSync(elfDir, 0o777);
    const cleanDirs = () => { for (const dir of [dataDir, workspace, elfDir]) rmSync(dir, { recursive: true, force: true }); };
    let redisServer: LocalRedis | undefined;
    const model = new LocalModelServer({ rules: chaosRules(random, modelDelayMs[0], modelDelayMs[1]), maxRecorded: 100 });
    try {
      redisServer = await startRedisServer(port, silentLogger, dataDir);
      // On this host's loopback: the model gateway of this process calls it; domain containers reach only the gateway.
      const modelUrl = await model.start({ port: 0 });
      const networkId = `chaos-${randomBytes(4).toString('hex')}`;
      const config = loadConfig({ ...process.env, ANTHROPIC_API_KEY: '' }, {
        REDIS_URL: redisServer.url, DAN_KEY_PREFIX: '', DAN_WORKSPACE: workspace, DAN_ELF_DIR: elfDir,
        DAN_LLM: 'local', DAN_LLM_URL: modelUrl, DAN_LOG_LEVEL: process.env['DAN_LOG_LEVEL'] ?? 'warn',
        // The memory is its own resident agent; the chaos targets the three working domains.
        DAN_ELF: 'off',
        // Kills and restarts are the point, not review rounds: workers only, as before roles.
        DAN_ROLES: 'coder,docs',
        DAN_SPAWNER: kind, DAN_NETWORK_ID: networkId,
        DAN_AGENT_IMAGE: process.env['DAN_AGENT_IMAGE'] ?? 'dan/agent:local',
      });
      const network = await runNetwork({ config, logger: silentLogger, redisUrl: redisServer.url });
      return new ChaosNetwork(kind, redisServer, port, dataDir, workspace, elfDir, model, network, networkId);
    } catch (error) {
      await model.stop().catch(() => undefined);
      await redisServer?.stop();
      cleanDirs();
      throw error;
    }
  }

  /** SIGKILLs a domain agent: its process, or its container (a Swarm replica's too) through the docker CLI. */
  async kill(agent: SpawnedAgent): Promise<void> {
    if (this.kind === 'process') {
      process.kill(Number(agent.handle), 'SIGKILL');
    } else {
      await run('docker', ['kill', '--signal', 'KILL', agent.handle], { timeout: 30_000 });
    }
  }

  /** Stops Redis the graceful way (SIGTERM: the append-only file is complete), then starts it again on the same port and folder. */
  async restartRedis(): Promise<{ stoppedAt: number; answeringAt: number }> {
    await this.redisServer.stop();
    const stoppedAt = Date.now();
    this.redisServer = await startRedisServer(this.port, silentLogger, this.dataDir);
    return { stoppedAt, answeringAt: Date.now() };
  }

  /** Stops the network (main orchestrator and every domain it started). */
  async stopNetwork(): Promise<void> {
    if (this.watch) clearInterval(this.watch);
    this.watch = undefined;
    for (const agent of this.network.spawner.list()) this.seen.set(agent.agentId, agent);
    await this.network.stop();
  }

  /**
   * Agents that outlived the network: for processes, any agent process still alive and any child of
   * this process but redis-server; for containers, any container (running or not) with this
   * network's label, and on Swarm any service with it.
   */
  async leaked(): Promise<string[]> {
    const left: string[] = [];
    if (this.kind === 'process') {
      for (const agent of this.seen.values()) if (alive(Number(agent.handle))) left.push(`${agent.agentId} (pid ${agent.handle})`);
      for (const child of childProcesses()) {
        if (child.command !== 'redis-server' && !left.some((l) => l.endsWith(`(pid ${child.pid})`))) left.push(`${child.command} (pid ${child.pid})`);
      }
    } else {
      const { stdout } = await run('docker', ['ps', '-a', '--filter', `label=${LABELS.network}=${this.networkId}`, '--format', '{{.Names}} {{.Status}}'], { timeout: 30_000 });
      left.push(...stdout.split('\n').map((l) => l.trim()).filter(Boolean));
      if (this.kind === 'swarm') {
        const services = await run('docker', ['service', 'ls', '--filter', `label=${LABELS.network}=${this.networkId}`, '--format', 'service {{.Name}}'], { timeout: 30_000 });
        left.push(...services.stdout.split('\n').map((l) => l.trim()).filter(Boolean));
      }
    }
    return left;
  }

  /** Stops Redis and the model server and removes the run's folders. */
  async close(): Promise<void> {
    if (this.watch) clearInterval(this.watch);
    await this.redisServer.stop();
    await this.model.stop().catch(() => undefined);
    for (const dir of [this.dataDir, this.workspace, this.elfDir]) rmSync(dir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Direct children of this process, from /proc (Linux). */
function childProcesses(): { pid: number; command: string }[] {
  const out: { pid: number; command: string }[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
      const close = stat.lastIndexOf(')');
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      if (ppid === process.pid) out.push({ pid: Number(entry), command: stat.slice(stat.indexOf('(') + 1, close) });
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}
