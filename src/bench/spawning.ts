import { execFile } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { promisify } from 'node:util';
import { submitTask } from '../../lib/redis/task-store.js';
import { poll, privateMb, round, rssMb, treeRssMb } from './bench-kit.js';
import type { BenchEnv, BenchNetwork } from './bench-network.js';
import { startBenchNetwork } from './bench-network.js';

const run = promisify(execFile);

export interface SpawnResult {
  runs: number;
  median_ms: number;
  worst_ms: number;
  /** Resident memory of the new domain agent about a second after its first task (MB, median). */
  idle_rss_mb: number;
}

export type SpawnRow = SpawnResult | { skipped: string };

/** The Docker engine's version, or why there is none; and whether the agent image is there. */
export async function dockerStatus(image: string): Promise<{ version: string } | { skipped: string }> {
  try {
    const { stdout } = await run('docker', ['version', '--format', '{{.Server.Version}}'], { timeout: 10_000 });
    const version = stdout.trim();
    try {
      await run('docker', ['image', 'inspect', image], { timeout: 10_000 });
    } catch {
      return { skipped: `Docker ${version} answers, but the image ${image} is missing: run scripts/build-local-images.sh` };
    }
    return { version };
  } catch {
    return { skipped: 'no Docker engine answers' };
  }
}

/** Resident memory of a domain container's processes (tini and node), read from the host's /proc. */
async function containerRssMb(container: string): Promise<number> {
  try {
    const { stdout } = await run('docker', ['inspect', '--format', '{{.State.Pid}}', container], { timeout: 10_000 });
    return treeRssMb(Number(stdout.trim()));
  } catch {
    return Number.NaN;
  }
}

/**
 * Scenario 6 (and the container row of 7): cold starts. Each round sends an echo task to a domain
 * with no agent (devops and frontend in turn) and times from the submit to the new agent's first
 * heartbeat key; the agent stops by itself once idle (1.5 s) before the next round uses that domain.
 */
async function spawnRounds(env: BenchEnv, net: BenchNetwork, rounds: number, docker: boolean, label = docker ? 'docker' : 'process'): Promise<SpawnResult> {
  const times: number[] = [];
  const memory: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const domain = i % 2 === 0 ? 'devops' : 'frontend';
    await poll(`${domain} agents to stop`, async () => ((await env.redis.scard(net.keys.agentsOfDomain(domain))) === 0 ? true : undefined), 30_000, 20);
    const taskId = `spawn-${label}-${i}`;
    const started = performance.now();
    await submitTask(env.redis, net.keys, { taskId, domain, description: 'bench spawn', type: 'echo' });
    await poll(`${domain} agent's first heartbeat`, async () => {
      for (const id of await env.redis.smembers(net.keys.agentsOfDomain(domain))) {
        if ((await env.redis.exists(net.keys.heartbeat(id))) === 1) return true;
      }
      return undefined;
    }, 60_000, 5);
    times.push(performance.now() - started);
    await net.events.waitAll([taskId], 60_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const agent = await net.domainAgent(domain);
    if (agent) memory.push(docker ? await containerRssMb(agent.containerId || `domain-${agent.agentId}`) : rssMb(agent.pid));
    env.progress(`spawn (${label}) ${i + 1}/${rounds}: ${Math.round(times.at(-1) ?? 0)} ms`);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const mem = memory.filter(Number.isFinite).sort((a, b) => a - b);
  return {
    runs: sorted.length,
    median_ms: round(sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN),
    worst_ms: round(sorted.at(-1) ?? Number.NaN),
    idle_rss_mb: round(mem[Math.floor((mem.length - 1) / 2)] ?? Number.NaN),
  };
}

/**
 * Median time of a bare `node -e 0` with the environment agents get, for scale: every spawn pays it.
 * A NODE_EXTRA_CA_CERTS bundle, for one, is read at every Node start.
 */
export async function measureNodeStart(runs = 5): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await run(process.execPath, ['-e', '0'], { timeout: 10_000 });
    times.push(performance.now() - started);
  }
  return round(times.sort((a, b) => a - b)[Math.floor((runs - 1) / 2)] ?? Number.NaN);
}

export async function measureProcessSpawn(env: BenchEnv, rounds: number): Promise<SpawnResult> {
  const net = await startBenchNetwork(env, 'spawn-process', { DAN_DOMAIN_IDLE_MS: '1500', DAN_SUPERVISE_INTERVAL_MS: '1000' });
  try {
    return await spawnRounds(env, net, rounds, false);
  } finally {
    await net.stop();
  }
}

export async function measureDockerSpawn(env: BenchEnv, rounds: number, image: string): Promise<SpawnRow> {
  const status = await dockerStatus(image);
  if ('skipped' in status) return status;
  // The containers run as uid 1000 and write into the bind-mounted workspace.
  chmodSync(env.workspace, 0o777);
  const net = await startBenchNetwork(env, 'spawn-docker', {
    DAN_SPAWNER: 'docker', DAN_AGENT_IMAGE: image, DAN_DOCKER_WORKSPACE: env.workspace,
    DAN_DOMAIN_IDLE_MS: '1500',
  });
  try {
    return await spawnRounds(env, net, rounds, true);
  } finally {
    await net.stop();
  }
}

/**
 * The Swarm row: each round's task arrives at a domain whose service is at zero replicas, and is timed to
 * the first heartbeat of the new replica. Skipped, with the reason, when no engine answers or it is not a
 * Swarm manager (the bench does not change the engine: `docker swarm init --advertise-addr 127.0.0.1`).
 */
export async function measureSwarmSpawn(env: BenchEnv, rounds: number, image: string): Promise<SpawnRow> {
  const status = await dockerStatus(image);
  if ('skipped' in status) return status;
  try {
    const { stdout } = await run('docker', ['info', '--format', '{{.Swarm.ControlAvailable}}'], { timeout: 10_000 });
    if (stdout.trim() !== 'true') return { skipped: `Docker ${status.version} answers, but it is not a Swarm manager: run 'docker swarm init --advertise-addr 127.0.0.1' for this row` };
  } catch (error) {
    return { skipped: `docker info failed: ${(error as Error).message}` };
  }
  chmodSync(env.workspace, 0o777);
  const net = await startBenchNetwork(env, 'spawn-swarm', {
    DAN_SPAWNER: 'swarm', DAN_AGENT_IMAGE: image, DAN_DOCKER_WORKSPACE: env.workspace, DAN_SWARM_NETWORK: 'host',
    DAN_DOMAIN_IDLE_MS: '1500',
  });
  try {
    return await spawnRounds(env, net, rounds, true, 'swarm');
  } finally {
    await net.stop();
  }
}

export interface IdleMemory {
  main_rss_mb: number;
  domain_process_rss_mb: number;
  /** The part of the domain's resident memory no other process shares. */
  domain_process_private_mb: number;
}

/** Scenario 7: a main orchestrator that has started one domain, and that domain after one echo, both idle 2 s. */
export async function measureIdleMemory(env: BenchEnv, net: BenchNetwork): Promise<IdleMemory> {
  await net.echo('devops', 1, 'memory');
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const agent = await net.domainAgent('devops');
  return {
    main_rss_mb: rssMb(net.pid),
    domain_process_rss_mb: agent ? rssMb(agent.pid) : Number.NaN,
    domain_process_private_mb: agent ? privateMb(agent.pid) : Number.NaN,
  };
}
