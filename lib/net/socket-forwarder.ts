import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, renameSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { DanError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';

/** A stream endpoint: a unix socket file, or a TCP host and port. */
export type Endpoint = { path: string } | { host: string; port: number };

export interface SocketForwarderOptions {
  /** Where connections are accepted; port 0 picks a free one (see `address`). */
  listen: Endpoint;
  /** Where each accepted connection is carried to, over a connection of its own. */
  target: Endpoint;
  /** Mode of a unix socket file after it is created (who may connect); default as the umask leaves it. */
  socketMode?: number;
  logger?: Logger;
}

/** `host:port`, or the socket's path. */
export function describeEndpoint(endpoint: Endpoint): string {
  return 'path' in endpoint ? endpoint.path : `${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`;
}

/**
 * Carries stream connections from one endpoint to another, bytes unchanged, in both directions: unix
 * socket to TCP on the host of an isolated domain container, TCP to unix socket inside it. A connection
 * whose target refuses or fails is closed; half-closes are passed on, so a client that ends its writes
 * still gets the rest of the reply. A stale socket file at a unix `listen` path is replaced; any other
 * file there is an error.
 */
export class SocketForwarder {
  private readonly connections = new Set<net.Socket>();
  private readonly logger: Logger;
  private currentTarget: Endpoint;
  /** The socket file it made (inode and change time: an inode number is reused at once), so that close() never removes a later one at that path. */
  private socketFile: string | undefined;

  private constructor(private readonly server: net.Server, private readonly options: SocketForwarderOptions) {
    this.logger = options.logger ?? silentLogger;
    this.currentTarget = options.target;
    server.on('connection', (client) => this.carry(client));
  }

  static async start(options: SocketForwarderOptions): Promise<SocketForwarder> {
    const { listen } = options;
    if ('path' in listen) refuseNonSocket(listen.path);
    // A unix socket is made under a name of its own and renamed into place: the rename replaces a socket
    // left there at once, and Node removes the socket's first name when the server closes, which then
    // can never be the file of another forwarder that took this path since.
    const bindPath = 'path' in listen ? `${listen.path}.${randomBytes(3).toString('hex')}` : undefined;
    const server = net.createServer({ allowHalfOpen: true });
    const forwarder = new SocketForwarder(server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const done = () => {
        server.off('error', reject);
        resolve();
      };
      if (bindPath) server.listen(bindPath, done);
      else if (!('path' in listen)) server.listen(listen.port, listen.host, done);
    }).catch((error: NodeJS.ErrnoException) => {
      throw new DanError('forward_failed', `cannot listen on ${describeEndpoint(listen)} to forward to ${describeEndpoint(options.target)} (${error.code ?? error.message}): free that address, or check the folder's permissions`, { cause: error });
    });
    if (bindPath && 'path' in listen) {
      if (options.socketMode !== undefined) chmodSync(bindPath, options.socketMode);
      renameSync(bindPath, listen.path);
      forwarder.socketFile = fileIdentity(listen.path);
    }
    server.on('error', (error) => forwarder.logger.warn({ err: error.message, listen: describeEndpoint(listen) }, 'forwarder: listening failed'));
    return forwarder;
  }

  /** Where it listens, with the port the system picked when asked for 0. */
  get address(): Endpoint {
    const { listen } = this.options;
    if ('path' in listen) return { path: listen.path };
    const bound = this.server.address() as net.AddressInfo;
    return { host: listen.host, port: bound.port };
  }

  /** Where connections accepted from now on are carried; the ones carried already stay as they are. */
  get target(): Endpoint {
    return this.currentTarget;
  }

  set target(endpoint: Endpoint) {
    this.currentTarget = endpoint;
  }

  /**
   * Stops accepting, ends every carried connection at once, and removes its socket file, unless another
   * forwarder (a main orchestrator that took this one's place) has put its own there since.
   */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.connections) socket.destroy();
    await closed;
    const { listen } = this.options;
    if (!('path' in listen)) return;
    try {
      if (fileIdentity(listen.path) === this.socketFile) unlinkSync(listen.path);
    } catch {
      // Already gone.
    }
  }

  private carry(client: net.Socket): void {
    const target = this.currentTarget;
    const upstream = 'path' in target
      ? net.connect({ path: target.path, allowHalfOpen: true })
      : net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    this.connections.add(client);
    this.connections.add(upstream);
    const fail = (error: Error) => {
      this.logger.debug({ err: error.message, target: describeEndpoint(target) }, 'forwarder: connection failed');
      client.destroy();
      upstream.destroy();
    };
    client.on('error', fail);
    upstream.on('error', fail);
    // A side that closed cleanly has ended its writes to the other through the pipe; end() again is a
    // no-op then, and otherwise lets what is still buffered for the other side go out before its FIN.
    client.once('close', () => {
      this.connections.delete(client);
      upstream.end();
    });
    upstream.once('close', () => {
      this.connections.delete(upstream);
      client.end();
    });
    // Piping passes a half-close on (end() of the other side's writes), and the client's bytes wait in
    // the upstream's buffer until it is connected.
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

function fileIdentity(file: string): string {
  const stat = lstatSync(file, { bigint: true });
  return `${stat.dev}:${stat.ino}:${stat.ctimeNs}`;
}

/** Refuses to put a socket at `file` when something other than a socket (left by an earlier run) is there. */
function refuseNonSocket(file: string): void {
  let stat;
  try {
    stat = lstatSync(file);
  } catch {
    return;
  }
  if (!stat.isSocket()) {
    throw new DanError('forward_failed', `cannot listen on ${file}: a file that is not a socket is there; remove it, or pick another folder than ${path.dirname(file)}`);
  }
}

/** One forward of DAN_FORWARD: a TCP address to listen on and the unix socket it is carried to. */
export interface ForwardSpec {
  listen: { host: string; port: number };
  target: { path: string };
}

const FORWARD_FORMAT = 'host:port=/absolute/socket/path, comma-separated (e.g. 127.0.0.1:6379=/run/dan/redis.sock)';

/**
 * Reads DAN_FORWARD: `host:port=/socket/path` entries, comma-separated. Returns the problem (a
 * message naming the entry and the format) instead when one entry is not of that form.
 */
export function parseForwards(text: string): ForwardSpec[] | string {
  const specs: ForwardSpec[] = [];
  for (const entry of text.split(',').map((e) => e.trim()).filter((e) => e !== '')) {
    const match = /^([^=\s]+):(\d{1,5})=(\/\S+)$/.exec(entry);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65_535) return `'${entry}' is not ${FORWARD_FORMAT}`;
    specs.push({ listen: { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port }, target: { path: match[3]! } });
  }
  return specs;
}

/** DAN_FORWARD's text for `specs`; what `parseForwards` reads back. */
export function formatForwards(specs: readonly ForwardSpec[]): string {
  return specs.map((s) => `${describeEndpoint(s.listen)}=${s.target.path}`).join(',');
}

/**
 * Starts a forwarder for each spec (all, or none: a failure closes the ones started). What a domain
 * container's agent runs first, so that its Redis and model gateway URLs on 127.0.0.1 lead out of a
 * container that has no network.
 */
export async function startForwards(specs: readonly ForwardSpec[], logger: Logger = silentLogger): Promise<SocketForwarder[]> {
  const started: SocketForwarder[] = [];
  try {
    for (const spec of specs) started.push(await SocketForwarder.start({ listen: spec.listen, target: spec.target, logger }));
  } catch (error) {
    await Promise.all(started.map((f) => f.close()));
    throw error;
  }
  return started;
}
