import type { DomainMount } from '../agents/domain-kinds.js';
import type Docker from 'dockerode';
import type { Container, ContainerCreateOptions, ContainerInfo } from 'dockerode';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import type { ContainerLimits } from '../agents/agent-definitions.js';
import { HOST_PATH_SETTINGS } from '../config/agent-env.js';
import { DanError, InvalidInputError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { isSentinelUrl, parseSentinelUrl } from '../redis/redis-url.js';
import { isSafeDomainName } from '../protocol/agent.js';
import { containerDomainCommand } from './domain-command.js';
import { CONTAINER_SOCKET_DIR, ISOLATED_NETWORK, IsolatedNetwork } from './isolated-network.js';
import { connectDocker, type DockerEndpoint } from './docker-engine.js';
import { readLines, RecentLines } from './output-lines.js';
import { containerAgentId, type AgentExit, type SpawnedAgent, type SpawnRequest, type Spawner } from './spawner.js';

export { connectDocker, type DockerEndpoint } from './docker-engine.js';

/** Labels of the containers the network manages (protocol.md), plus the agent's role. */
export const LABELS = {
  domain: 'distributed-agent-network.domain',
  domainId: 'distributed-agent-network.domain-id',
  managed: 'distributed-agent-network.managed',
  role: 'distributed-agent-network.role',
  /** Which network (Redis and key prefix) the agent serves, so two networks on one engine keep apart. */
  network: 'distributed-agent-network.network',
  /** The Swarm service a domain runs as (DAN_SPAWNER=swarm): Swarm owns its containers, not the Docker spawner. */
  service: 'distributed-agent-network.service',
} as const;
const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';

/** Where a domain container sees the workspace, whatever the host calls it. */
export const CONTAINER_WORKSPACE = '/workspace';

export interface DockerSpawnerOptions {
  /** Labels every container; only containers with this label value are adopted (see `networkIdentity`). */
  networkId: string;
  /** The agent image (Dockerfile.agent). */
  image: string;
  /**
   * `isolated` (no network: Redis and the model gateway through sockets, see IsolatedNetwork), `host`,
   * or a Docker network's name (the compose network).
   */
  network: string;
  /** Mounted at /workspace: an absolute host path (bind mount) or a named volume. */
  workspace: string;
  /** `uid:gid` the agent runs as. */
  user: string;
  /** Defaults for every domain container. */
  limits: Required<ContainerLimits>;
  /** Per-domain overrides (from `agents/<domain>/domain.md`). */
  limitsFor?: (domain: string) => ContainerLimits;
  /** Size of the /tmp tmpfs, the only writable place besides the workspace. */
  tmpfsBytes: number;
  /** Volume (or absolute host path) holding the ELF memory's databases, mounted for the domains whose kind needs it. */
  elfStore?: string;
  /** A host folder of agent definitions, mounted read-only as the containers' agents folder (DAN_DOCKER_AGENTS_DIR). */
  agentsDir?: string;
  /** What a domain's kind needs mounted (see DOMAIN_KINDS); nothing beyond the workspace when not given. */
  mountsFor?: (domain: string) => readonly DomainMount[];
  /** Added to every container's environment and never logged (API keys). */
  secretEnv?: Record<string, string>;
  endpoint?: DockerEndpoint;
  logger?: Logger;
  /** Output lines kept per agent for `lastLines()`; default 200. */
  logLines?: number;
  /** Every output line of every container as it arrives. */
  onLine?: (agentId: string, line: string) => void;
}

interface Tracked {
  agent: SpawnedAgent;
  container: Container;
  /** Compose started it: compose also removes it, so we only stop it. */
  composeOwned: boolean;
  ended: Promise<void>;
  stopping: Promise<void> | undefined;
}

// Environment a domain container must not inherit from the main orchestrator's host view: the
// settings the settings table marks as host paths, and HOME. Mounted ones get container paths below.
const hostOnlyEnv = [...HOST_PATH_SETTINGS, 'HOME'];
/** Where a container finds the agent definitions mounted from DAN_DOCKER_AGENTS_DIR. */
export const CONTAINER_AGENTS_DIR = '/data/agents';
/** Where the elf domain's container keeps the memory. */
export const CONTAINER_ELF_DIR = '/data/elf';

/**
 * How a domain container starts so that the commands its agent runs cannot read the agent's secrets:
 * as root with only SETUID and SETGID, and DAN_RUN_AS set to `user`, which the agent switches to
 * before anything else (lib/runtime/run-as.ts); the switch makes its /proc entries unreadable to that
 * uid. Adds DAN_RUN_AS to `env`. A `user` not written as uid:gid in digits (a name, a uid alone)
 * starts the container as that user directly, as before: its commands can then read the agent's
 * environment. Root (`0:...`) is passed on as asked, and the agent then refuses to start.
 */
function startUser(user: string, env: Record<string, string>): { user: string; capAdd: string[] } {
  if (!/^\d+:\d+$/.test(user) || user.startsWith('0:')) return { user, capAdd: [] };
  env['DAN_RUN_AS'] = user;
  return { user: '0:0', capAdd: ['SETUID', 'SETGID'] };
}

/**
 * The value of the network label: `DAN_NETWORK_ID` when set (compose sets it, so the domains it
 * starts and the ones main starts agree), else the Redis host, port, database and key prefix.
 */
export function networkIdentity(redisUrl: string, keyPrefix: string, explicit?: string): string {
  if (explicit) return explicit;
  let where = redisUrl;
  try {
    if (isSentinelUrl(redisUrl)) {
      const target = parseSentinelUrl(redisUrl);
      where = `sentinel:${target.sentinels.map(({ host, port }) => `${host}:${port}`).join(',')}/${target.name}/${target.db}`;
    } else {
      const url = new URL(redisUrl);
      where = `${url.hostname}:${url.port || '6379'}${url.pathname && url.pathname !== '/' ? url.pathname : '/0'}`;
    }
  } catch {
    // Not a URL: use it as written (it holds no password then, or connecting would have failed).
  }
  return `${where}${keyPrefix ? `#${keyPrefix}` : ''}`.replace(/[^A-Za-z0-9_.:/#-]/g, '_');
}

/** A managed container as `dan logs` and adoption see it. */
export interface ManagedContainer {
  id: string;
  name: string;
  agentId: string;
  domain: string;
  role: string;
  state: string;
  composeOwned: boolean;
  /** The network label: which network (Redis and prefix) the container serves, when labelled. */
  network: string | undefined;
  /** A task of a Swarm service: Swarm starts, stops and removes it, never the Docker spawner. */
  swarm?: boolean;
}

function describe(info: ContainerInfo): ManagedContainer {
  const labels = info.Labels ?? {};
  const domain = labels[LABELS.domain] ?? '';
  const role = labels[LABELS.role] ?? (domain ? 'domain' : 'main');
  const name = (info.Names?.[0] ?? info.Id.slice(0, 12)).replace(/^\//, '');
  const domainId = labels[LABELS.domainId];
  // A Swarm replica names itself after its container (DAN_AGENT_ID_FROM=container).
  const agentId = domain && domainId ? `${domain}-${domainId}` : domain && LABELS.service in labels ? containerAgentId(domain, info.Id) : name;
  return { id: info.Id, name, agentId, domain: role === 'main' ? 'main' : domain, role, state: info.State, composeOwned: COMPOSE_PROJECT_LABEL in labels, network: labels[LABELS.network], swarm: LABELS.service in labels };
}

/**
 * Containers of the network: those labelled managed (domains) and the main orchestrator (labelled
 * with its role). Running ones only, unless `all`; with `networkId`, only the ones labelled with it.
 */
export async function listNetworkContainers(docker: Docker, options: { all?: boolean; networkId?: string } = {}): Promise<ManagedContainer[]> {
  const [managed, mains] = await Promise.all([
    docker.listContainers({ all: options.all ?? false, filters: { label: [`${LABELS.managed}=true`] } }),
    docker.listContainers({ all: options.all ?? false, filters: { label: [`${LABELS.role}=main`] } }),
  ]);
  const seen = new Map<string, ManagedContainer>();
  for (const info of [...mains, ...managed]) seen.set(info.Id, describe(info));
  return [...seen.values()].filter((c) => options.networkId === undefined || c.network === options.networkId);
}

/** One output line of a container, with Docker's timestamp. */
export interface ContainerLine {
  container: ManagedContainer;
  stream: 'stdout' | 'stderr';
  /** Milliseconds since the epoch, from Docker's timestamp. */
  time: number;
  line: string;
}

/**
 * Streams a container's output as lines: the last `tail` lines, then (with `follow`) new ones until
 * the container stops or `signal` aborts. Resolves when the stream ends.
 */
export async function followContainerOutput(
  docker: Docker,
  container: ManagedContainer,
  options: { tail: number; follow: boolean; signal?: AbortSignal; onLine: (line: ContainerLine) => void },
): Promise<void> {
  const handle = docker.getContainer(container.id);
  const emit = (stream: 'stdout' | 'stderr') => (text: string) => {
    const space = text.indexOf(' ');
    const time = Date.parse(text.slice(0, space));
    options.onLine({ container, stream, time: Number.isNaN(time) ? Date.now() : time, line: Number.isNaN(time) ? text : text.slice(space + 1) });
  };
  const logOptions = { stdout: true, stderr: true, timestamps: true, tail: options.tail };
  if (!options.follow) {
    const buffer = await handle.logs({ ...logOptions, follow: false });
    const [out, err] = demuxBuffer(buffer);
    splitLines(out, emit('stdout'));
    splitLines(err, emit('stderr'));
    return;
  }
  const stream = (await handle.logs({ ...logOptions, follow: true })) as unknown as Readable;
  const out = new PassThrough();
  const err = new PassThrough();
  docker.modem.demuxStream(stream, out, err);
  const abort = () => stream.destroy();
  options.signal?.addEventListener('abort', abort, { once: true });
  const done = Promise.all([readLines(out, emit('stdout')), readLines(err, emit('stderr'))]);
  await new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', resolve);
  });
  out.end();
  err.end();
  await done;
  options.signal?.removeEventListener('abort', abort);
}

/** Splits Docker's multiplexed log buffer (8-byte frame headers) into stdout and stderr text. */
function demuxBuffer(buffer: Buffer): [string, string] {
  const parts: [Buffer[], Buffer[]] = [[], []];
  let at = 0;
  while (at + 8 <= buffer.length) {
    const kind = buffer[at];
    const size = buffer.readUInt32BE(at + 4);
    parts[kind === 2 ? 1 : 0].push(buffer.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return [Buffer.concat(parts[0]).toString('utf8'), Buffer.concat(parts[1]).toString('utf8')];
}

function splitLines(text: string, emit: (line: string) => void): void {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const line of lines) emit(line.endsWith('\r') ? line.slice(0, -1) : line);
}

/** Maps the exit status Docker reports to the code and signal of the agent's process (the Swarm spawner's replicas' too). */
export function exitOf(status: number): { code: number | null; signal: string | null } {
  if (status === 137) return { code: null, signal: 'SIGKILL' };
  if (status === 143) return { code: null, signal: 'SIGTERM' };
  return { code: status, signal: null };
}

/**
 * Runs each domain orchestrator as its own container: the protocol's names, labels and environment;
 * resource limits; non-root, no capabilities, no new privileges, read-only root with a tmpfs for
 * scratch, no Docker socket. Containers already running with the managed labels are adopted at
 * start, so a restarted main orchestrator (or compose) never leads to duplicates. Every Docker call
 * is logged with the container id.
 */
export class DockerSpawner implements Spawner {
  readonly kind = 'docker' as const;
  private readonly tracked = new Map<string, Tracked>();
  private readonly lines: RecentLines;
  private readonly listeners: Array<(exit: AgentExit) => void> = [];
  private readonly logger: Logger;
  private readonly logLines: number;
  private adopted: SpawnedAgent[] = [];
  private closed = false;

  private constructor(private readonly docker: Docker, private readonly options: DockerSpawnerOptions, private readonly isolation: IsolatedNetwork | undefined) {
    this.logger = options.logger ?? silentLogger;
    this.logLines = options.logLines ?? 200;
    this.lines = new RecentLines(this.logLines, (agentId) => this.tracked.has(agentId));
  }

  /**
   * Connects to the engine, checks the image exists, removes managed containers that have exited,
   * and adopts the running ones.
   */
  static async start(options: DockerSpawnerOptions): Promise<DockerSpawner> {
    const logger = options.logger ?? silentLogger;
    const docker = await connectDocker(options.endpoint, logger);
    try {
      await docker.getImage(options.image).inspect();
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
      throw new DanError('image_missing', `the agent image ${options.image} is not on this Docker host: build it with 'scripts/build-local-images.sh' (offline) or 'docker compose build', or set DAN_AGENT_IMAGE`, { exitCode: 2, cause: error });
    }
    const isolation = options.network === ISOLATED_NETWORK ? IsolatedNetwork.open(options.networkId, logger) : undefined;
    const spawner = new DockerSpawner(docker, options, isolation);
    await spawner.adoptRunning();
    return spawner;
  }

  /** Agents that were already running when this spawner started; not yet known to be ready. */
  adopt(): SpawnedAgent[] {
    return this.adopted.map((agent) => ({ ...agent }));
  }

  /**
   * A running managed container of this network for `agentId` that this spawner did not start, such as a
   * compose domain brought up after main: adopted now. The engine vouches for it, not Redis, so an agent
   * registered by hand is never taken for one.
   */
  async adoptLate(agentId: string): Promise<SpawnedAgent | undefined> {
    if (this.closed || this.tracked.has(agentId)) return undefined;
    const found = await this.docker.listContainers({ filters: { label: [`${LABELS.managed}=true`, `${LABELS.network}=${this.options.networkId}`] } });
    for (const info of found) {
      const c = describe(info);
      if (c.agentId !== agentId || c.swarm || info.State !== 'running' || !isSafeDomainName(c.domain) || this.tracked.has(agentId)) continue;
      const agent: SpawnedAgent = { agentId, domain: c.domain, handle: c.id, startedAt: Date.now() };
      this.track(agent, this.docker.getContainer(c.id), c.composeOwned, 50);
      this.logger.info({ agentId, domain: c.domain, containerId: c.id.slice(0, 12), compose: c.composeOwned }, 'docker: adopted a container started after this spawner');
      return { ...agent };
    }
    return undefined;
  }

  async spawn(request: SpawnRequest): Promise<SpawnedAgent> {
    const { domain, agentId } = request;
    if (!isSafeDomainName(domain)) throw new InvalidInputError(`cannot start a container for domain '${domain}': a domain name is lower-case letters, digits and '-', starting with a letter`);
    const domainId = agentId.slice(domain.length + 1);
    if (agentId !== `${domain}-${domainId}` || !/^[0-9a-f]{8}$/.test(domainId)) {
      throw new InvalidInputError(`cannot start a container for agent '${agentId}': its id must be '${domain}-' and 8 hex characters`);
    }
    if (this.closed) throw new DanError('spawner_closed', `cannot start agent ${agentId}: the Docker spawner is closed`);
    if (this.tracked.has(agentId)) throw new DanError('agent_exists', `cannot start agent ${agentId}: a container for it is already running`);

    const name = `domain-${domain}-${domainId}`;
    const isolated = await this.isolation?.prepare(request.env);
    const create = this.createOptions(isolated ? { ...request, env: isolated.env } : request, name, domainId, isolated?.socketDir);
    let container: Container;
    try {
      container = await this.docker.createContainer(create);
    } catch (error) {
      throw new DanError('spawn_failed', `cannot create container ${name} from ${this.options.image}: ${(error as Error).message}`, { cause: error });
    }
    const log = this.logger.child({ agentId, domain, containerId: container.id.slice(0, 12) });
    log.info({ name, image: this.options.image, network: this.options.network }, 'docker: container created');
    try {
      await container.start();
    } catch (error) {
      log.error({ err: (error as Error).message }, 'docker: start failed; removing the container');
      await container.remove({ force: true }).catch(() => undefined);
      throw new DanError('spawn_failed', `cannot start container ${name}: ${(error as Error).message}`, { cause: error });
    }
    log.info('docker: container started');
    const agent: SpawnedAgent = { agentId, domain, handle: container.id, startedAt: Date.now() };
    this.track(agent, container, false, 0);
    if (this.closed) {
      await this.stop(agentId, 2_000);
      throw new DanError('spawner_closed', `agent ${agentId} was stopped at once: the Docker spawner was closed while it started`);
    }
    return { ...agent };
  }

  async openServices(env: Record<string, string>): Promise<void> {
    await this.isolation?.prepare(env);
  }

  async stop(agentId: string, graceMs = 10_000): Promise<void> {
    const entry = this.tracked.get(agentId);
    if (!entry) return;
    entry.stopping ??= (async () => {
      const log = this.logger.child({ agentId, domain: entry.agent.domain, containerId: entry.container.id.slice(0, 12) });
      log.info({ graceMs }, 'docker: stopping container');
      try {
        // Docker sends SIGTERM, then SIGKILL after t seconds.
        await entry.container.stop({ t: Math.max(1, Math.ceil(graceMs / 1000)) });
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode;
        // 304: already stopped; 404: already gone. Either way the wait below settles.
        if (status !== 304 && status !== 404) log.warn({ err: (error as Error).message }, 'docker: stop failed');
      }
      await entry.ended;
    })();
    await entry.stopping;
  }

  list(): SpawnedAgent[] {
    return [...this.tracked.values()].map((entry) => ({ ...entry.agent }));
  }

  async lastLines(agentId: string, count = this.logLines): Promise<string[]> {
    return this.lines.last(agentId, count);
  }

  onExit(listener: (exit: AgentExit) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Memory an agent's container uses now, in bytes, the way `docker stats` counts it (page cache
   * left out); undefined when the agent has no running container.
   */
  async memoryUsage(agentId: string): Promise<number | undefined> {
    const entry = this.tracked.get(agentId);
    if (!entry) return undefined;
    const stats = (await entry.container.stats({ stream: false })) as unknown as {
      memory_stats?: { usage?: number; stats?: { cache?: number; total_inactive_file?: number; inactive_file?: number } };
    };
    const memory = stats.memory_stats;
    if (memory?.usage === undefined) return undefined;
    const cache = memory.stats?.total_inactive_file ?? memory.stats?.inactive_file ?? memory.stats?.cache ?? 0;
    return memory.usage - cache;
  }

  /** Refuses new spawns and stops (and removes) every container it started or adopted, then closes their sockets. */
  async close(graceMs = 10_000): Promise<void> {
    this.closed = true;
    await Promise.all([...this.tracked.keys()].map((agentId) => this.stop(agentId, graceMs)));
    await this.isolation?.close();
  }

  private createOptions(request: SpawnRequest, name: string, domainId: string, socketDir: string | undefined): ContainerCreateOptions {
    const { domain, agentId } = request;
    const o = this.options;
    const { command, env, mounts, user, capAdd, limits } = containerPlan(o, domain, { ...request.env, AGENT_ID: agentId }, socketDir);
    return {
      name,
      Hostname: agentId,
      Image: o.image,
      Cmd: command,
      User: user,
      Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
      Labels: { [LABELS.domain]: domain, [LABELS.domainId]: domainId, [LABELS.managed]: 'true', [LABELS.role]: 'domain', [LABELS.network]: o.networkId },
      HostConfig: {
        NetworkMode: this.isolation ? 'none' : o.network,
        Memory: limits.memoryBytes,
        MemorySwap: limits.memoryBytes,
        NanoCpus: Math.round(limits.cpus * 1e9),
        PidsLimit: limits.pids,
        CapDrop: ['ALL'],
        CapAdd: capAdd,
        SecurityOpt: ['no-new-privileges'],
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${o.tmpfsBytes}` },
        Mounts: mounts,
        RestartPolicy: { Name: 'no' },
        LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } },
      },
    };
  }

  /** Follows a container's output and waits for its end; on the end, removes it and tells the listeners. */
  private track(agent: SpawnedAgent, container: Container, composeOwned: boolean, tail: number): void {
    const keep = this.lines.start(agent.agentId);
    const log = this.logger.child({ agentId: agent.agentId, domain: agent.domain, containerId: container.id.slice(0, 12) });
    const described: ManagedContainer = { id: container.id, name: agent.agentId, agentId: agent.agentId, domain: agent.domain, role: 'domain', state: 'running', composeOwned, network: this.options.networkId, swarm: false };
    const following = followContainerOutput(this.docker, described, {
      tail, follow: true,
      onLine: ({ line }) => {
        keep(line);
        this.options.onLine?.(agent.agentId, line);
      },
    }).catch((error: Error) => log.warn({ err: error.message }, 'docker: reading the container output failed'));
    const ended = (async () => {
      let status: number;
      try {
        status = ((await container.wait()) as { StatusCode: number }).StatusCode;
      } catch (error) {
        // 404: removed by someone else. Anything else: the engine went away; the heartbeat sweep covers it.
        log.warn({ err: (error as Error).message }, 'docker: waiting for the container failed');
        status = 137;
      }
      await Promise.race([following, new Promise((resolve) => setTimeout(resolve, 1_000))]);
      const { code, signal } = exitOf(status);
      log.info({ status, code, signal }, 'docker: container exited');
      if (!composeOwned) {
        await container.remove({ force: true }).then(
          () => log.info('docker: container removed'),
          (error: { statusCode?: number; message: string }) => { if (error.statusCode !== 404) log.warn({ err: error.message }, 'docker: remove failed'); },
        );
      }
      this.tracked.delete(agent.agentId);
      const exit: AgentExit = { agentId: agent.agentId, domain: agent.domain, code, signal };
      for (const listener of this.listeners) {
        try {
          listener(exit);
        } catch (error) {
          log.error({ err: error }, 'exit listener failed');
        }
      }
    })();
    this.tracked.set(agent.agentId, { agent, container, composeOwned, ended, stopping: undefined });
  }

  private async adoptRunning(): Promise<void> {
    const found = await this.docker.listContainers({ all: true, filters: { label: [`${LABELS.managed}=true`, `${LABELS.network}=${this.options.networkId}`] } });
    this.logger.debug({ count: found.length }, 'docker: listed managed containers');
    for (const info of found) {
      const c = describe(info);
      if (c.swarm) continue;
      const log = this.logger.child({ agentId: c.agentId, domain: c.domain, containerId: c.id.slice(0, 12) });
      if (!isSafeDomainName(c.domain)) {
        log.warn({ name: c.name }, 'docker: a managed container without a valid domain label; leaving it alone');
        continue;
      }
      if (info.State !== 'running') {
        if (!c.composeOwned) {
          await this.docker.getContainer(c.id).remove({ force: true }).catch(() => undefined);
          log.info({ name: c.name, state: info.State }, 'docker: removed a managed container that had stopped');
        }
        continue;
      }
      const agent: SpawnedAgent = { agentId: c.agentId, domain: c.domain, handle: c.id, startedAt: Date.now() };
      this.track(agent, this.docker.getContainer(c.id), c.composeOwned, 50);
      this.adopted.push(agent);
      log.info({ name: c.name, compose: c.composeOwned }, 'docker: adopted a running container');
    }
  }
}

/** What a domain container is given, whichever spawner starts it: its environment, mounts, start user and limits. */
export interface ContainerPlan {
  /** The command after the image's entry point (tini): the agent with its Node flags. */
  command: string[];
  env: Record<string, string>;
  mounts: Array<{ Type: 'bind' | 'volume'; Source: string; Target: string; ReadOnly: boolean }>;
  user: string;
  capAdd: string[];
  limits: Required<ContainerLimits>;
}

/**
 * The Docker spawner's container recipe, shared with the Swarm spawner so both harden and mount alike:
 * the domain agent command (DOMAIN_NODE_FLAGS), the agent environment without host-only settings, the
 * workspace (and agents folder, ELF store) mounts, the start user (root with SETUID and SETGID only, to
 * become DAN_RUN_AS) and the domain's limits.
 */
export function containerPlan(o: Pick<DockerSpawnerOptions, 'limits' | 'limitsFor' | 'secretEnv' | 'workspace' | 'agentsDir' | 'elfStore' | 'mountsFor' | 'user'>, domain: string, agentEnv: Record<string, string>, socketDir?: string): ContainerPlan {
  const limits = { ...o.limits, ...definedOnly(o.limitsFor?.(domain) ?? {}) };
  const env: Record<string, string> = { ...agentEnv };
  for (const key of hostOnlyEnv) delete env[key];
  Object.assign(env, { AGENT_ROLE: 'domain', DOMAIN_TYPE: domain, DAN_WORKSPACE: CONTAINER_WORKSPACE, HOME: '/tmp' }, o.secretEnv ?? {});
  const mount = (source: string, target: string, readOnly = false) => ({ Type: path.isAbsolute(source) ? 'bind' as const : 'volume' as const, Source: source, Target: target, ReadOnly: readOnly });
  const mounts = [mount(o.workspace, CONTAINER_WORKSPACE)];
  if (socketDir) mounts.push(mount(socketDir, CONTAINER_SOCKET_DIR, true));
  if (o.agentsDir) {
    mounts.push(mount(o.agentsDir, CONTAINER_AGENTS_DIR, true));
    env['DAN_AGENTS_DIR'] = CONTAINER_AGENTS_DIR;
  }
  if (o.elfStore && o.mountsFor?.(domain).includes('elfStore')) {
    mounts.push(mount(o.elfStore, CONTAINER_ELF_DIR));
    env['DAN_ELF_DIR'] = CONTAINER_ELF_DIR;
  }
  const { user, capAdd } = startUser(o.user, env);
  return { command: containerDomainCommand(), env, mounts, user, capAdd, limits };
}

function definedOnly(limits: ContainerLimits): ContainerLimits {
  return Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== undefined)) as ContainerLimits;
}
