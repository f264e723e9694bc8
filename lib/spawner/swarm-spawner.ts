import type Docker from 'dockerode';
import { sleep } from '../clock.js';
import { serialByKey } from '../serial-by-key.js';
import { DanError, InvalidInputError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { isSafeDomainName } from '../protocol/agent.js';
import { connectDocker, type DockerEndpoint } from './docker-engine.js';
import { exitOf, followContainerOutput, LABELS } from './docker-spawner.js';
import { containerAgentId, type AgentExit, type SpawnedAgent, type SpawnGroup, type SpawnRequest, type Spawner } from './spawner.js';
import { specEnv, swarmServiceName, swarmServiceSpec, type SwarmServiceOptions } from './swarm-service-spec.js';
import { replicaStartError, serviceCreateError } from './swarm-errors.js';
import { containerExitCode, liveTasks, replicaOf, settleService, taskEnded, serviceReplicas, setReplicas, swarmTasks, taskTrouble, type SwarmTask } from './swarm-tasks.js';

export interface SwarmSpawnerOptions extends SwarmServiceOptions {
  endpoint?: DockerEndpoint;
  logger?: Logger;
  /** How long a new replica may take to get a container before its spawn fails (image pulls included). */
  startTimeoutMs?: number;
  /** How often the replicas' tasks are read, to notice the ones that ended (at once for those on this node, whose containers are waited on). */
  pollMs?: number;
}

/** How long a spawn waits for Swarm to add a task for its new replica before it scales again. */
const RESCALE_AFTER_MS = 2_000;

interface Replica {
  agent: SpawnedAgent;
  taskId: string;
  containerId: string;
  ended: Promise<void>;
  end: () => void;
}

/**
 * DAN_SPAWNER=swarm: each domain runs as one Docker Swarm service, labelled like the Docker spawner's
 * containers plus the service. The supervisor decides how many agents a domain gets, with the same
 * policy as for every spawner; each spawn is one more replica, and the spawn resolves with the agent id
 * the new replica takes from its container. Replicas stop by themselves when idle (DAN_DOMAIN_IDLE_MS);
 * the service is then scaled down to the replicas still running, to zero when all are idle, so Swarm
 * never restarts one (the supervisor does, with its backoff). Services left by a previous main
 * orchestrator are adopted; `close` scales every service to zero, waits for its replicas to hand back
 * their work, and removes it.
 */
export class SwarmSpawner implements Spawner {
  readonly kind = 'swarm' as const;
  private readonly replicas = new Map<string, Replica>();
  /** This network's services by name: their domain and the environment of their spec. */
  private readonly services = new Map<string, SpawnGroup>();
  private readonly listeners: Array<(exit: AgentExit) => void> = [];
  /** One change at a time per domain: a scale is read, then written. */
  private readonly locked = serialByKey();
  private readonly logger: Logger;
  private adopted: SpawnedAgent[] = [];
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;

  private constructor(private readonly docker: Docker, private readonly options: SwarmSpawnerOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * Connects to the engine, checks it is a Swarm manager (exit code 3 and `docker swarm init` otherwise),
   * adopts the services of this network with their running replicas, and starts watching their tasks.
   */
  static async start(options: SwarmSpawnerOptions): Promise<SwarmSpawner> {
    const docker = await connectDocker(options.endpoint, options.logger);
    try {
      await docker.swarmInspect();
    } catch (error) {
      const why = (error as { statusCode?: number }).statusCode === 503
        ? 'the Docker engine is not a Swarm manager'
        : `the Docker engine did not answer about its swarm (${(error as Error).message})`;
      throw new DanError('swarm_unavailable', `${why}: run 'docker swarm init' on it (one machine), or point DOCKER_HOST at a manager of your swarm; or run domains as containers on this engine: DAN_SPAWNER=docker`, { exitCode: 3, cause: error });
    }
    const spawner = new SwarmSpawner(docker, options);
    await spawner.adoptServices();
    spawner.timer = setInterval(() => void spawner.refresh(), options.pollMs ?? 1_000);
    spawner.timer.unref();
    return spawner;
  }

  /** The service a domain's replicas belong to: one spec, so one model gateway token for them all. */
  groupOf(domain: string): string {
    return swarmServiceName(this.options.networkId, domain);
  }

  groups(): SpawnGroup[] {
    return [...this.services.values()].map((group) => ({ ...group, env: { ...group.env } }));
  }

  adopt(): SpawnedAgent[] {
    return this.adopted.map((agent) => ({ ...agent }));
  }

  /** A replica of this network's service for `domain` whose container names it `agentId` (one Swarm started after a drain, say). */
  async adoptLate(agentId: string, domain: string): Promise<SpawnedAgent | undefined> {
    if (this.closed) return undefined;
    if (!this.replicas.has(agentId)) await this.refresh();
    const replica = this.replicas.get(agentId);
    return replica?.agent.domain === domain ? { ...replica.agent } : undefined;
  }

  async spawn(request: SpawnRequest): Promise<SpawnedAgent> {
    const { domain } = request;
    if (!isSafeDomainName(domain)) throw new InvalidInputError(`cannot start a Swarm replica for domain '${domain}': a domain name is lower-case letters, digits and '-', starting with a letter`);
    if (this.closed) throw new DanError('spawner_closed', `cannot start an agent for ${domain}: the Swarm spawner is closed`);
    return this.locked(domain, async () => {
      const name = swarmServiceName(this.options.networkId, domain);
      const before = new Set((await swarmTasks(this.docker, name).catch(() => [])).map((t) => t.ID));
      if (this.services.has(name)) {
        // Down to the replicas running first: a service still asking for one that just ended (its scale-down
        // queued behind this spawn) would take "one more" as no change, and Swarm would start nothing.
        await this.scaleTo(domain, this.running(domain));
        await this.scaleTo(domain, this.running(domain) + 1);
      } else {
        await this.createService(domain, name, request.env);
      }
      return this.awaitNewReplica(domain, name, before);
    });
  }

  /** SIGTERM to the replica's container, SIGKILL after `graceMs`; one on another node is stopped by scaling down (Swarm picks which). */
  async stop(agentId: string, graceMs = 10_000): Promise<void> {
    const replica = this.replicas.get(agentId);
    if (!replica) return;
    this.logger.info({ agentId, containerId: replica.containerId.slice(0, 12), graceMs }, 'swarm: stopping a replica');
    try {
      await this.docker.getContainer(replica.containerId).stop({ t: Math.max(1, Math.ceil(graceMs / 1000)) });
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404) await this.locked(replica.agent.domain, async () => this.scaleTo(replica.agent.domain, Math.max(0, this.running(replica.agent.domain) - 1)));
      else if (status !== 304) this.logger.warn({ agentId, err: (error as Error).message }, 'swarm: stop failed');
    }
    await Promise.race([replica.ended, new Promise((resolve) => setTimeout(resolve, graceMs + 15_000).unref())]);
  }

  list(): SpawnedAgent[] {
    return [...this.replicas.values()].map((r) => ({ ...r.agent }));
  }

  /** The replica's last output lines, read from its container when it runs on this node. */
  async lastLines(agentId: string, count = 50): Promise<string[]> {
    const replica = this.replicas.get(agentId);
    if (!replica) return [];
    const lines: string[] = [];
    const described = { id: replica.containerId, name: agentId, agentId, domain: replica.agent.domain, role: 'domain', state: 'running', composeOwned: false, network: this.options.networkId, swarm: true };
    await followContainerOutput(this.docker, described, { tail: count, follow: false, onLine: ({ line }) => lines.push(line) }).catch(() => undefined);
    return lines.slice(-count);
  }

  onExit(listener: (exit: AgentExit) => void): void {
    this.listeners.push(listener);
  }

  /** Scales every service of this network to zero, waits (up to `graceMs` and a margin) for the replicas to stop, and removes the services. */
  async close(graceMs = 10_000): Promise<void> {
    this.closed = true;
    const names = [...this.services.keys()];
    await Promise.all(names.map((name) => setReplicas(this.docker, name, 0).catch((error: Error) => this.logger.warn({ service: name, err: error.message }, 'swarm: scaling down failed'))));
    const deadline = Date.now() + graceMs + 15_000;
    while (this.replicas.size > 0 && Date.now() < deadline) {
      await this.refresh();
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    for (const name of names) {
      await settleService(this.docker, name);
      await this.docker.getService(name).remove().then(
        () => this.logger.info({ service: name }, 'swarm: service removed'),
        (error: { statusCode?: number; message: string }) => { if (error.statusCode !== 404) this.logger.warn({ service: name, err: error.message }, 'swarm: removing the service failed'); },
      );
    }
    // Swarm removes the tasks' containers after the service: wait for them, so `down` leaves none.
    const label = `${LABELS.network}=${this.options.networkId}`;
    while (Date.now() < deadline + 15_000 && (await this.docker.listContainers({ all: true, filters: { label: [label, `${LABELS.role}=domain`] } }).catch(() => [])).some((c) => names.includes(c.Labels?.[LABELS.service] ?? ''))) {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    this.services.clear();
    clearInterval(this.timer);
    // Whatever did not stop in time went with its service: report it ended.
    for (const [agentId, replica] of [...this.replicas]) this.ended(agentId, replica, { code: null, signal: 'SIGKILL' });
  }

  private async createService(domain: string, name: string, env: Record<string, string>): Promise<void> {
    const spec = swarmServiceSpec(this.options, domain, env, 1);
    try {
      await this.docker.createService(spec);
    } catch (error) {
      throw serviceCreateError(error, { name, domain, image: this.options.image, network: this.options.network });
    }
    this.services.set(name, { id: name, domain, env: { ...env } });
    this.logger.info({ service: name, domain, image: this.options.image, network: this.options.network }, 'swarm: service created');
  }

  /**
   * Waits for the task Swarm adds for the new replica to get its container. A task rejected or failed
   * first (an image no node can pull, a mount that does not exist) or still pending at the timeout (no
   * node can take it) fails the spawn, and the service is scaled back so Swarm stops trying.
   */
  private async awaitNewReplica(domain: string, name: string, before: Set<string>): Promise<SpawnedAgent> {
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 60_000);
    let newest: SwarmTask | undefined;
    let counted = this.running(domain);
    let scaledAt = Date.now();
    while (Date.now() < deadline) {
      const tasks = await swarmTasks(this.docker, name);
      const fresh = tasks.filter((t) => !before.has(t.ID));
      // Any task added since the scale is this spawn's, even if the task watch noted it first.
      const started = fresh.find((t) => replicaOf(t) !== undefined);
      if (started) return { ...this.track(domain, started).agent };
      if (fresh.length === 0 && (this.running(domain) < counted || Date.now() - scaledAt >= RESCALE_AFTER_MS)) {
        // No task for the new replica: a replica counted in "one more" ended meanwhile (idle), and Swarm
        // took its finished task for the extra one. Down to those running and one more again, as a spawn begins.
        this.logger.info({ service: name, domain, running: this.running(domain) }, 'swarm: no task for the new replica; scaling again');
        for (const t of tasks) before.add(t.ID);
        await this.scaleTo(domain, this.running(domain));
        await this.scaleTo(domain, this.running(domain) + 1);
        counted = this.running(domain);
        scaledAt = Date.now();
        continue;
      }
      newest = fresh.sort((a, b) => (b.CreatedAt ?? '').localeCompare(a.CreatedAt ?? ''))[0] ?? newest;
      const trouble = newest && taskTrouble(newest);
      if (trouble && newest?.Status?.State !== 'pending') return this.failSpawn(domain, name, trouble);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return this.failSpawn(domain, name, newest ? taskTrouble(newest) ?? `task still ${newest.Status?.State ?? 'new'}` : 'Swarm created no task');
  }

  private async failSpawn(domain: string, name: string, why: string): Promise<never> {
    await this.scaleTo(domain, this.running(domain)).catch(() => undefined);
    throw replicaStartError(why, { name, domain, image: this.options.image, network: this.options.network });
  }

  private isClaimed(task: SwarmTask): boolean {
    return [...this.replicas.values()].some((r) => r.taskId === task.ID);
  }

  private track(domain: string, task: SwarmTask): Replica {
    const containerId = replicaOf(task) ?? '';
    const agentId = containerAgentId(domain, containerId);
    const existing = this.replicas.get(agentId);
    if (existing) return existing;
    let end = () => {};
    const ended = new Promise<void>((resolve) => { end = resolve; });
    const replica: Replica = { agent: { agentId, domain, handle: containerId, startedAt: Date.now() }, taskId: task.ID, containerId, ended, end };
    this.logger.debug({ agentId, state: task.Status?.State }, 'swarm: tracking a replica');
    this.replicas.set(agentId, replica);
    this.logger.info({ agentId, domain, taskId: task.ID, containerId: containerId.slice(0, 12) }, 'swarm: replica started');
    this.watchContainer(agentId, containerId);
    return replica;
  }

  /**
   * Waits on a replica's container, as the Docker spawner does, so its end is read from Swarm at once
   * rather than at the next poll: a killed replica's tasks are handed back and the next one starts
   * about a poll sooner. Swarm learns of the end a moment after the engine, so the tasks are read until
   * it has; a replica on another node (404 here) is left to the poll.
   */
  private watchContainer(agentId: string, containerId: string): void {
    const container = this.docker.getContainer(containerId);
    const stillTracked = () => this.replicas.get(agentId)?.containerId === containerId;
    void (async () => {
      // A task still starting has a container not yet running, for which the engine's wait returns at once.
      for (;;) {
        await container.wait();
        if ((await container.inspect()).State.Status !== 'created' || !stillTracked()) break;
        await sleep(100);
      }
      const until = Date.now() + (this.options.pollMs ?? 1_000) * 2;
      while (stillTracked() && !this.closed && Date.now() < until) {
        // A read begun before the end may miss it: let it finish, then read again.
        await this.refreshing;
        await this.refresh();
        if (stillTracked()) await sleep(100);
      }
    })().catch(() => undefined);
  }

  private refresh(): Promise<void> {
    this.refreshing ??= this.readTasks().finally(() => { this.refreshing = undefined; });
    return this.refreshing;
  }

  /** Reads the tasks of every service: notes replicas Swarm started, and reports the ones that ended. */
  private async readTasks(): Promise<void> {
    try {
      for (const [name, { domain }] of [...this.services]) {
        const tasks = await swarmTasks(this.docker, name);
        const byId = new Map(tasks.map((t) => [t.ID, t]));
        for (const task of liveTasks(tasks)) if (replicaOf(task) !== undefined && !this.isClaimed(task) && !this.closed) this.track(domain, task);
        const gone: Array<{ agentId: string; replica: Replica; status: number | undefined }> = [];
        for (const [agentId, replica] of [...this.replicas]) {
          if (replica.agent.domain !== domain) continue;
          const task = byId.get(replica.taskId);
          // Ended once its container has: one Swarm is stopping (scaled down, drained) is still handing back its work.
          if (task && !taskEnded(task)) continue;
          // No exit code in the task (the API omits a 0, and a task Swarm dropped has none): the container says; unknown counts as killed.
          gone.push({ agentId, replica, status: task?.Status?.ContainerStatus?.ExitCode ?? await containerExitCode(this.docker, replica.containerId) });
        }
        // Reported and scaled down with nothing awaited in between, so no spawn counts them gone before the scale-down is queued.
        for (const { agentId, replica, status } of gone) if (this.replicas.get(agentId) === replica) this.ended(agentId, replica, exitOf(status ?? 137));
        // A replica that stopped (idle, killed) is not replaced by Swarm: the service keeps only those still running.
        if (gone.length > 0 && !this.closed) await this.locked(domain, async () => this.scaleTo(domain, this.running(domain)));
      }
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'swarm: reading the tasks failed; trying again');
    }
  }

  private ended(agentId: string, replica: Replica, how: { code: number | null; signal: string | null }): void {
    this.replicas.delete(agentId);
    replica.end();
    this.logger.info({ agentId, domain: replica.agent.domain, ...how }, 'swarm: replica ended');
    for (const listener of this.listeners) {
      try {
        listener({ agentId, domain: replica.agent.domain, ...how });
      } catch (error) {
        this.logger.error({ err: error }, 'exit listener failed');
      }
    }
  }

  /**
   * The replicas of a domain this spawner knows to run (started, not ended): what its service is scaled
   * to, so a task Swarm could not place, or one it added by itself (after a drain), is dropped and the
   * supervisor decides again.
   */
  private running(domain: string): number {
    return [...this.replicas.values()].filter((r) => r.agent.domain === domain).length;
  }

  private async scaleTo(domain: string, replicas: number): Promise<void> {
    const name = swarmServiceName(this.options.networkId, domain);
    if ((await serviceReplicas(this.docker, name)) === replicas) return;
    await setReplicas(this.docker, name, replicas);
    this.logger.info({ service: name, domain, replicas }, 'swarm: service scaled');
  }

  private async adoptServices(): Promise<void> {
    const services = await this.docker.listServices({ filters: { label: [`${LABELS.managed}=true`, `${LABELS.network}=${this.options.networkId}`] } });
    for (const service of services) {
      const name = service.Spec?.Name ?? '';
      const domain = service.Spec?.Labels?.[LABELS.domain] ?? '';
      if (!isSafeDomainName(domain) || name !== swarmServiceName(this.options.networkId, domain)) {
        this.logger.warn({ service: name }, 'swarm: a labelled service without a valid domain; leaving it alone');
        continue;
      }
      this.services.set(name, { id: name, domain, env: specEnv((service.Spec?.TaskTemplate as { ContainerSpec?: { Env?: string[] } } | undefined)?.ContainerSpec?.Env) });
      const tasks = liveTasks(await swarmTasks(this.docker, name));
      for (const task of tasks) if (replicaOf(task) !== undefined) this.adopted.push({ ...this.track(domain, task).agent });
      await this.scaleTo(domain, this.running(domain));
      this.logger.info({ service: name, domain, replicas: tasks.length }, 'swarm: adopted a service');
    }
  }
}
