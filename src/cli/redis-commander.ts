import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { sleep } from '../../lib/clock.js';
import { DanError } from '../../lib/errors.js';
import { isSentinelUrl } from '../../lib/redis/redis-url.js';
import type { Logger } from '../../lib/logger.js';

/** The version `npx` runs when none is installed; pinned so every machine gets the same UI. */
export const REDIS_COMMANDER_VERSION = '0.9.0';
// 120 s: the first `npx` run downloads the package and its dependencies.
const START_TIMEOUT_MS = 120_000;
const KEPT_OUTPUT_LINES = 20;

/** How to run Redis Commander: an installed binary, the package in node_modules, or npx. */
export interface RedisCommanderCommand {
  program: string;
  args: string[];
  via: 'path' | 'node_modules' | 'npx';
}

/** Finds `redis-commander` on the PATH, then in node_modules; else `npx --yes redis-commander@0.9.0`. */
export function findRedisCommander(pathVar = process.env['PATH'] ?? ''): RedisCommanderCommand {
  for (const dir of pathVar.split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, 'redis-commander');
    try {
      accessSync(candidate, constants.X_OK);
      return { program: candidate, args: [], via: 'path' };
    } catch {
      // Not in this folder.
    }
  }
  try {
    const manifest = createRequire(import.meta.url).resolve('redis-commander/package.json');
    const bin = (JSON.parse(readFileSync(manifest, 'utf8')) as { bin?: string | Record<string, string> }).bin;
    const script = typeof bin === 'string' ? bin : bin?.['redis-commander'];
    if (script) return { program: process.execPath, args: [path.resolve(path.dirname(manifest), script)], via: 'node_modules' };
  } catch {
    // Not installed here.
  }
  return { program: 'npx', args: ['--yes', `redis-commander@${REDIS_COMMANDER_VERSION}`], via: 'npx' };
}

/** How to start Redis Commander for one Redis: its arguments, and what goes into its environment. */
export interface RedisCommanderLaunch {
  args: string[];
  env: Record<string, string>;
}

/**
 * The login Redis Commander asks for before it shows or runs anything (its `server.httpAuth`): its
 * page on 127.0.0.1 is reachable by every local user, and it holds a Redis password.
 */
export interface RedisCommanderLogin {
  username: string;
  password: string;
}

/**
 * Redis Commander's arguments and environment for a Redis URL: host, port, user, password,
 * database and TLS (`rediss://`), listening on 127.0.0.1 only (it has no login), showing only this
 * network's keys when a key prefix is set, and never writing its saved connections. A URL with
 * credentials becomes a connection in NODE_CONFIG (the configuration Redis Commander reads through
 * node-config), never an argument: `ps` shows arguments to every local user.
 */
export function redisCommanderLaunch(redisUrl: string, port: number, keyPrefix = '', login?: RedisCommanderLogin): RedisCommanderLaunch {
  if (isSentinelUrl(redisUrl)) {
    throw new DanError('bad_config', "dan inspect does not open Redis through Sentinel yet: give it the master's own URL with -r redis://user:password@host:port (SENTINEL GET-MASTER-ADDR-BY-NAME on a Sentinel names it)", { exitCode: 2 });
  }
  const url = new URL(redisUrl);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost';
  const redisPort = url.port || '6379';
  const db = url.pathname.replace(/^\//, '');
  // Redis Commander reads the login from its configuration (NODE_CONFIG), never from arguments here.
  const server = login ? { server: { httpAuth: { username: login.username, password: login.password } } } : {};
  const tail = [...(keyPrefix ? ['--root-pattern', `${keyPrefix}*`] : []), '--redis-label', 'dan', '--address', '127.0.0.1', '--port', String(port), '--nosave'];
  if (url.username || url.password) {
    const connection = {
      label: 'dan', host, port: Number(redisPort), dbIndex: Number(db || 0),
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      password: decodeURIComponent(url.password),
      ...(url.protocol === 'rediss:' ? { tls: true } : {}),
    };
    return { args: tail, env: { NODE_CONFIG: JSON.stringify({ ...server, connections: [connection] }) } };
  }
  const args = ['--redis-host', host, '--redis-port', redisPort];
  if (db) args.push('--redis-db', db);
  if (url.protocol === 'rediss:') args.push('--redis-tls');
  return { args: [...args, ...tail, '--noload'], env: login ? { NODE_CONFIG: JSON.stringify(server) } : {} };
}

/** True when nothing listens on 127.0.0.1:port. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** True once the URL answers HTTP with anything but a server error. */
export async function answersHttp(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return response.status < 500;
  } catch {
    return false;
  }
}

export interface RunningRedisCommander {
  url: string;
  /** Resolves with a reason when it stops without being asked to. */
  exited: Promise<string>;
  /** Stops it and every process it started. */
  stop(): Promise<void>;
}

/**
 * Starts Redis Commander in a process group of its own (npx starts it as a grandchild, and a
 * terminal's Ctrl-C must reach `dan` alone, which then stops the whole group) and resolves once its
 * page answers. Throws a DanError (exit 1) with its last output when it does not come up.
 */
export async function startRedisCommander(options: {
  redisUrl: string;
  port: number;
  keyPrefix: string;
  logger: Logger;
  /** The login its page asks for; without one, anyone who reaches the port may use it. */
  login?: RedisCommanderLogin;
  /** Stops the start-up; the result is then undefined. */
  signal?: AbortSignal;
  /** Called once when the page has not answered after 3 s (npx downloading, usually). */
  onSlowStart?: (command: RedisCommanderCommand) => void;
}): Promise<RunningRedisCommander | undefined> {
  const { port, logger } = options;
  if (!(await portFree(port))) {
    throw new DanError('ui_port_busy', `cannot start Redis Commander: port ${port} on 127.0.0.1 is in use (Redis Commander may already run there: open http://127.0.0.1:${port}); choose another with --port, or --port 0 for a free one`);
  }
  const command = findRedisCommander();
  const launch = redisCommanderLaunch(options.redisUrl, port, options.keyPrefix, options.login);
  logger.debug({ program: command.program, via: command.via, port }, 'starting redis-commander');
  const child = spawn(command.program, [...command.args, ...launch.args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...launch.env } });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n').filter((l) => l.trim())) {
      logger.debug({ line }, 'redis-commander');
      output.push(line);
    }
    output.splice(0, Math.max(0, output.length - KEPT_OUTPUT_LINES));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let stopping = false;
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => resolve(`${command.program} could not run (${error.message})`));
    child.once('exit', (code, signal) => resolve(`it exited (${signal ?? `code ${code}`})`));
  });
  let why: string | undefined;
  void exited.then((reason) => { why = reason; });
  const url = `http://127.0.0.1:${port}`;
  const startedAt = Date.now();
  let told = false;
  while (!(await answersHttp(url))) {
    if (options.signal?.aborted) {
      await stopGroup(child);
      return undefined;
    }
    if (why !== undefined || Date.now() - startedAt > START_TIMEOUT_MS) {
      await stopGroup(child);
      const reason = why ?? `its page did not answer at ${url} within ${START_TIMEOUT_MS / 1000} s`;
      const last = output.length ? `; its last output:\n  ${output.slice(-8).join('\n  ')}` : '';
      const help = command.via === 'npx'
        ? `check that npm can reach its registry (try 'npx --yes redis-commander@${REDIS_COMMANDER_VERSION} --version'), or install it: 'npm install -g redis-commander@${REDIS_COMMANDER_VERSION}'`
        : `run '${[command.program, ...command.args].join(' ')} --help' to check the installation`;
      throw new DanError('ui_start_failed', `Redis Commander could not be started: ${reason}${last}\nWhat to do: ${help}; or use the compose service: 'dan inspect --compose'`);
    }
    if (!told && Date.now() - startedAt > 3_000) {
      told = true;
      options.onSlowStart?.(command);
    }
    await sleep(250, options.signal);
  }
  return {
    url,
    exited: exited.then((reason) => (stopping ? '' : reason)),
    stop: async () => {
      stopping = true;
      await stopGroup(child);
    },
  };
}

/** SIGTERM to the child's process group, then SIGKILL to whatever is left after 5 s. */
async function stopGroup(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(-pid, name);
    } catch {
      // The group is gone already.
    }
  };
  signal('SIGTERM');
  for (let i = 0; i < 50 && groupAlive(pid); i++) await sleep(100);
  if (groupAlive(pid)) signal('SIGKILL');
  for (let i = 0; i < 20 && groupAlive(pid); i++) await sleep(100);
}

/**
 * True while a process of the group runs. A group whose processes have all exited still answers
 * kill(0) until init reaps their zombies (npx's grandchild is orphaned when npx exits), so on Linux
 * the members' states are read from /proc.
 */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  if (process.platform !== 'linux') return true;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // After the command name in parentheses: state, ppid, pgrp, ...
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') return true;
    } catch {
      // It exited while we looked.
    }
  }
  return false;
}
