import type Docker from 'dockerode';
import { sleep } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type * as DockerSpawnerModule from '../../lib/spawner/docker-spawner.js';
import type { ManagedContainer } from '../../lib/spawner/docker-spawner.js';
import type { LogLine } from './log-lines.js';
import { SeenLines, fromContainerLine, groupBySource, sourceKey } from './log-lines.js';

type DockerApi = typeof DockerSpawnerModule;

// A follow re-reads this many lines more than were shown first, to cover what was printed in between.
const CATCH_UP_LINES = 200;
// A container that starts while following is shown from its first line, up to this many.
const NEW_CONTAINER_LINES = 1_000;
// With a filter, -n counts kept lines: each container's last this many are read to find them.
const FILTERED_READ_LINES = 10_000;

export interface FollowContainersOptions {
  /** The `-n` the first read used. */
  tail: number;
  signal: AbortSignal;
  onLine: (line: LogLine) => void;
  /** How often to look for containers that started; 2 s by default. */
  pollMs?: number;
}

/**
 * The output of the network's containers for `dan logs`: the recent lines of each, then what they
 * print next, picking up containers that start later. The Docker spawner module (and so dockerode)
 * is loaded only when this connects, so `dan logs` without Docker never loads it.
 */
export class ContainerLogs {
  private readonly seen = new SeenLines();
  /** Containers the first read saw, running or not. */
  private readonly known = new Set<string>();

  private constructor(private readonly api: DockerApi, private readonly docker: Docker, private readonly logger: Logger, private readonly networkId: string | undefined) {}

  /**
   * Connects to the engine; throws the spawner's DanError (exit 3) when none answers. With
   * `networkId` (DAN_NETWORK_ID), only that network's containers are read.
   */
  static async connect(logger: Logger, networkId?: string): Promise<ContainerLogs> {
    const api = await import('../../lib/spawner/docker-spawner.js');
    return new ContainerLogs(api, await api.connectDocker(undefined, logger), logger, networkId);
  }

  /**
   * The last `tail` lines that `keep` keeps of every network container, stopped ones included (their
   * last words are often the point), as one group per container stream, each oldest first.
   */
  async recent(tail: number, keep?: (line: LogLine) => boolean): Promise<LogLine[][]> {
    const containers = await this.api.listNetworkContainers(this.docker, { all: true, ...(this.networkId ? { networkId: this.networkId } : {}) });
    const lines: LogLine[] = [];
    await Promise.all(containers.map(async (container) => {
      this.known.add(container.id);
      if (tail <= 0) return;
      try {
        await this.api.followContainerOutput(this.docker, container, { tail: keep ? Math.max(tail, FILTERED_READ_LINES) : tail, follow: false, onLine: (output) => lines.push(fromContainerLine(output)) });
      } catch (error) {
        // Removed between the listing and the read, or a log driver that cannot be read back.
        this.logger.debug({ containerId: container.id.slice(0, 12), err: (error as Error).message }, 'docker: container output not readable');
      }
    }));
    const groups = groupBySource(lines);
    for (const group of groups) for (const line of group) this.seen.take(sourceKey(line), line.time);
    return keep ? groups.map((group) => group.filter(keep).slice(-tail)).filter((group) => group.length > 0) : groups;
  }

  /** Follows the running containers until `signal` aborts; a container that ends ends its stream quietly. */
  async follow(options: FollowContainersOptions): Promise<void> {
    const { signal } = options;
    const active = new Map<string, Promise<void>>();
    const start = (container: ManagedContainer): void => {
      if (active.has(container.id) || signal.aborted) return;
      const keys = [`${container.id}:stdout`, `${container.id}:stderr`];
      keys.forEach((key) => this.seen.rewind(key));
      const shownBefore = keys.some((key) => this.seen.has(key));
      // Known but nothing shown (-n 0, or it had printed nothing): only what comes next.
      const tail = shownBefore ? options.tail + CATCH_UP_LINES : this.known.has(container.id) ? 0 : NEW_CONTAINER_LINES;
      this.known.add(container.id);
      const following = this.api.followContainerOutput(this.docker, container, {
        tail, follow: true, signal,
        onLine: (output) => {
          const line = fromContainerLine(output);
          if (this.seen.take(sourceKey(line), line.time)) options.onLine(line);
        },
      })
        .catch((error: Error) => this.logger.debug({ containerId: container.id.slice(0, 12), err: error.message }, 'docker: following the container output failed'))
        .finally(() => active.delete(container.id));
      active.set(container.id, following);
    };
    const look = async (): Promise<void> => {
      try {
        (await this.api.listNetworkContainers(this.docker, this.networkId ? { networkId: this.networkId } : {})).forEach(start);
      } catch (error) {
        this.logger.debug({ err: (error as Error).message }, 'docker: listing the containers failed; trying again');
      }
    };
    await look();
    while (!signal.aborted) {
      await sleep(options.pollMs ?? 2_000, signal);
      if (!signal.aborted) await look();
    }
    await Promise.all(active.values());
  }
}
