import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, rmdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DanError } from '../errors.js';
import { isSentinelUrl } from '../redis/redis-url.js';
import { silentLogger, type Logger } from '../logger.js';
import { describeEndpoint, formatForwards, SocketForwarder, type ForwardSpec } from '../net/socket-forwarder.js';

/** The DAN_DOCKER_NETWORK value that gives domain containers no network but their way to Redis and the gateway. */
export const ISOLATED_NETWORK = 'isolated';

/** Where an isolated container sees the folder of its sockets (mounted read-only). */
export const CONTAINER_SOCKET_DIR = '/run/dan';

/**
 * The services an isolated container reaches, each given to its agent as a URL: the setting holding it, the socket's name, the URL
 * schemes carried (plain ones: a TLS client would check the server's name against 127.0.0.1), and the
 * port the URL gets inside the container, on the container's own loopback.
 */
export const UPLINKS = [
  { env: 'REDIS_URL', socket: 'redis.sock', schemes: ['redis:'], defaultPort: 6379, containerPort: 6379 },
  { env: 'ANTHROPIC_BASE_URL', socket: 'model-gateway.sock', schemes: ['http:'], defaultPort: 80, containerPort: 4011 },
  // A model server given to agents directly; main's own spawners give them the gateway instead (TokenIssuingSpawner).
  { env: 'DAN_LLM_URL', socket: 'model.sock', schemes: ['http:'], defaultPort: 80, containerPort: 4010 },
] as const;

type Uplink = (typeof UPLINKS)[number];

/** What an isolated container is created with. */
export interface IsolatedContainer {
  /** The agent's environment with each uplink's URL on 127.0.0.1 inside the container, and DAN_FORWARD. */
  env: Record<string, string>;
  /** The host folder of the sockets, to mount read-only at CONTAINER_SOCKET_DIR. */
  socketDir: string;
}

/**
 * The default network of domain containers (DAN_DOCKER_NETWORK=isolated): Docker's `none`, so a
 * container has its own loopback only and none of the host's listeners answer it. Its agent reaches
 * Redis and the model gateway through unix sockets this process serves in a folder mounted read-only
 * into the container; the agent listens on its own 127.0.0.1 and forwards there (DAN_FORWARD), so its
 * Redis client, model SDK and the Claude Code CLI use plain URLs. The folder is the same for every
 * start of one network (by its id), so containers adopted by a restarted main orchestrator find the
 * new sockets where the old ones were.
 */
export class IsolatedNetwork {
  private readonly forwarders = new Map<string, Promise<SocketForwarder>>();
  private closed = false;

  private constructor(readonly socketDir: string, private readonly logger: Logger) {}

  /**
   * Makes the socket folder of `networkId`: <tmp>/dan-sockets-<uid> (0700, so other users of this host
   * cannot reach in) holding one folder per network (0711: a container's uid passes through it to the
   * sockets, which are 0666, without listing it).
   */
  static open(networkId: string, logger: Logger = silentLogger, root = path.join(os.tmpdir(), `dan-sockets-${process.getuid?.() ?? 'user'}`)): IsolatedNetwork {
    privateFolder(root, 0o700);
    const dir = path.join(root, createHash('sha256').update(networkId).digest('hex').slice(0, 16));
    privateFolder(dir, 0o711);
    return new IsolatedNetwork(dir, logger);
  }

  /** The environment and mount of a container, starting the forwarder of each uplink its environment names. */
  async prepare(env: Record<string, string>): Promise<IsolatedContainer> {
    if (this.closed) throw new DanError('spawner_closed', 'cannot start an isolated container: its network is closed');
    // Again each time: another main orchestrator of this network may have removed it when it closed.
    privateFolder(path.dirname(this.socketDir), 0o700);
    privateFolder(this.socketDir, 0o711);
    const out = { ...env };
    const specs: ForwardSpec[] = [];
    for (const uplink of UPLINKS) {
      const value = env[uplink.env];
      if (!value) continue;
      const { url, host, port } = upstreamOf(uplink, value);
      await this.forwarder(uplink, host, port);
      url.hostname = '127.0.0.1';
      url.port = String(uplink.containerPort);
      out[uplink.env] = value.endsWith('/') || url.pathname !== '/' ? url.href : url.href.replace(/\/$/, '');
      specs.push({ listen: { host: '127.0.0.1', port: uplink.containerPort }, target: { path: path.posix.join(CONTAINER_SOCKET_DIR, uplink.socket) } });
    }
    out['DAN_FORWARD'] = formatForwards(specs);
    return { env: out, socketDir: this.socketDir };
  }

  /**
   * Closes every forwarder (and removes its socket), and the folder once empty. A main orchestrator that
   * ends without closing leaves both, for the containers its successor adopts.
   */
  async close(): Promise<void> {
    this.closed = true;
    const started = await Promise.allSettled(this.forwarders.values());
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.close() : undefined)));
    this.forwarders.clear();
    try {
      rmdirSync(this.socketDir);
    } catch {
      // Not empty (another main of this network serves it now), or gone.
    }
  }

  private async forwarder(uplink: Uplink, host: string, port: number): Promise<SocketForwarder> {
    let started = this.forwarders.get(uplink.socket);
    if (!started) {
      const listen = { path: path.join(this.socketDir, uplink.socket) };
      started = SocketForwarder.start({ listen, target: { host, port }, socketMode: 0o666, logger: this.logger });
      this.forwarders.set(uplink.socket, started);
      started.then(
        () => this.logger.info({ socket: listen.path, upstream: `${host}:${port}` }, `isolated containers reach ${uplink.env} through a socket`),
        () => this.forwarders.delete(uplink.socket),
      );
    }
    const forwarder = await started;
    const was = forwarder.target;
    if ('path' in was || was.host !== host || was.port !== port) {
      // The last URL given wins: a restarted gateway's new port reaches the containers adopted before it.
      this.logger.info({ socket: uplink.socket, was: describeEndpoint(was), upstream: `${host}:${port}` }, `isolated containers reach ${uplink.env} at a new address`);
      forwarder.target = { host, port };
    }
    return forwarder;
  }
}

/** The host and port an uplink's URL names, or an error that says which URLs can be carried. */
function upstreamOf(uplink: Uplink, value: string): { url: URL; host: string; port: number } {
  if (isSentinelUrl(value)) {
    throw new DanError('bad_config', `${uplink.env} names Redis through Sentinel, which DAN_DOCKER_NETWORK=isolated cannot carry into domain containers (the master moves, and the Sentinels name it by an address the containers cannot reach): set DAN_DOCKER_NETWORK=host or a Docker network on which the containers reach the Sentinels and the Redis servers`, { exitCode: 2 });
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new DanError('bad_config', `${uplink.env} is not a URL, which DAN_DOCKER_NETWORK=isolated needs to carry it into domain containers: give a URL (${uplink.schemes[0]}//host:port), or set DAN_DOCKER_NETWORK=host or a Docker network`, { exitCode: 2 });
  }
  if (!(uplink.schemes as readonly string[]).includes(url.protocol)) {
    throw new DanError('bad_config', `${uplink.env} uses ${url.protocol}//, which DAN_DOCKER_NETWORK=isolated cannot carry into domain containers (it carries ${uplink.schemes.join(', ')}//: a TLS client would check the server's name against 127.0.0.1); set DAN_DOCKER_NETWORK=host or a Docker network on which the containers reach it`, { exitCode: 2 });
  }
  return { url, host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port ? Number(url.port) : uplink.defaultPort };
}

/** Creates `dir` with `mode`, or checks that the one there is a folder of this user that others cannot write to. */
function privateFolder(dir: string, mode: number): void {
  mkdirSync(dir, { recursive: true, mode });
  const stat = lstatSync(dir);
  const uid = process.getuid?.();
  if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) {
    throw new DanError('bad_config', `${dir} is not a folder of this user (uid ${uid ?? '?'}): remove it, or set TMPDIR to a folder of your own; it holds the sockets of isolated domain containers`, { exitCode: 2 });
  }
  if ((stat.mode & 0o777) !== mode) chmodSync(dir, mode);
}
