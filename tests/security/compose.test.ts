import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { packageRoot } from '../../lib/config.js';
import { runProcess } from '../support/run-process.js';

/**
 * The audit's reading of the compose files (#62-#64), replayed on what compose itself makes of them:
 * `docker-compose config` merges docker-compose.yml with the override (or the host variant) and fills
 * in the variables, so the checks see the services as `docker compose up` would start them.
 */

interface Service {
  command?: string[] | string;
  environment?: Record<string, string>;
  ports?: (string | { host_ip?: string; published?: number | string })[];
  volumes?: (string | { source?: string; target?: string })[];
  read_only?: boolean;
  cap_drop?: string[];
  cap_add?: string[];
  security_opt?: string[];
  group_add?: (string | number)[];
  privileged?: boolean;
  user?: string;
  mem_limit?: string | number;
  pids_limit?: number;
  network_mode?: string;
}

const PASSWORD = 'compose-audit-pw-0123456789';
/** One password per Redis user besides the operator's (README "Who may do what on Redis"). */
const USER_PASSWORDS = {
  REDIS_MAIN_PASSWORD: 'compose-audit-main-0123456789', REDIS_AGENT_PASSWORD: 'compose-audit-agent-0123456789',
  REDIS_CLIENT_PASSWORD: 'compose-audit-client-0123456789', REDIS_VIEWER_PASSWORD: 'compose-audit-viewer-0123456789',
};
const TOKEN = { DAN_GATEWAY_COMPOSE_TOKEN: 'compose-audit-token-0123456789' };
const VARIABLES = { REDIS_PASSWORD: PASSWORD, DOCKER_GID: '998', ...TOKEN, ...USER_PASSWORDS };
const MAIN_FILES = ['-f', 'docker-compose.yml', '-f', 'docker-compose.override.yml'];
const HOST_FILES = ['-f', 'docker-compose.yml', '-f', 'docker-compose.host.yml'];
const DOMAINS = ['backend', 'frontend', 'devops'];
const composeOnPath = spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0;

/** `docker-compose config` with every profile, and only the variables given (no .env is read from the temp cwd's view). */
function config(files: string[], variables: Record<string, string>) {
  return runProcess('docker-compose', ['--project-directory', packageRoot(), ...files, '--profile', 'debug', '--profile', 'domains', 'config'], {
    cwd: packageRoot(), env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...variables },
  });
}

const rendered = new Map<string, Promise<Record<string, Service>>>();

/** The services of one file set, rendered once per file (docker-compose 1.x takes a second or two a run). */
function services(files: string[]): Promise<Record<string, Service>> {
  const key = files.join(' ');
  let found = rendered.get(key);
  if (!found) {
    found = config(files, VARIABLES).then((run) => {
      if (run.code !== 0) throw new Error(`docker-compose config failed: ${run.stderr}`);
      return (parse(run.stdout) as { services: Record<string, Service> }).services;
    });
    rendered.set(key, found);
  }
  return found;
}

const mountsSocket = (service: Service): boolean =>
  (service.volumes ?? []).some((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`).includes('/var/run/docker.sock'));

describe.skipIf(!composeOnPath)('compose as docker-compose config renders it', () => {
  // Since the Redis users came to compose, Redis requires five passwords, not one, and loads them as
  // hashes from the file the redis-acl service writes instead of a requirepass line on its stdin.
  it('[audit #62] Redis refuses to start without its passwords, requires them, and is published on 127.0.0.1 only', async () => {
    for (const name of ['REDIS_PASSWORD', ...Object.keys(USER_PASSWORDS)]) {
      const open = await config(MAIN_FILES, Object.fromEntries(Object.entries(VARIABLES).filter(([key]) => key !== name)));
      expect(open.code, name).not.toBe(0);
      expect(open.stderr, name).toContain(`set ${name} in .env`);
    }
    for (const files of [MAIN_FILES, HOST_FILES]) {
      const all = await services(files);
      const broker = all['message-broker'] as Service;
      const command = [broker.command ?? []].flat().join(' ');
      // The users come from the ACL file (hashes only), never from an argument `ps` shows.
      expect(command).toContain('exec redis-server --aclfile /acl/users.acl ');
      for (const password of [PASSWORD, ...Object.values(USER_PASSWORDS)]) expect(command).not.toContain(password);
      // The broker only reads the file: its mount is read-only.
      expect((broker.volumes ?? []).map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`)).filter((v) => v.includes(':/acl'))).toEqual(['redis-acl:/acl:ro']);
      for (const port of broker.ports ?? []) expect(typeof port === 'string' ? port : port.host_ip).toMatch(/^127\.0\.0\.1/);
      if (broker.network_mode === 'host') expect(command).toContain('--bind 127.0.0.1');
    }
  });

  it('[trust boundaries] each container connects as its own Redis user: main as main, domains as agent, Redis Commander as viewer', async () => {
    for (const files of [MAIN_FILES, HOST_FILES]) {
      const all = await services(files);
      const env = (name: string): Record<string, string> => (all[name] as Service).environment ?? {};
      expect(env('main-orchestrator')['REDIS_URL']).toMatch(new RegExp(`^redis://main:${USER_PASSWORDS.REDIS_MAIN_PASSWORD}@`));
      // What main hands the domain containers it starts, for their `agent` user.
      expect(env('main-orchestrator')['REDIS_AGENT_PASSWORD']).toBe(USER_PASSWORDS.REDIS_AGENT_PASSWORD);
      for (const name of DOMAINS) expect(env(name)['REDIS_URL'], name).toMatch(new RegExp(`^redis://agent:${USER_PASSWORDS.REDIS_AGENT_PASSWORD}@`));
      // Redis Commander's connection in NODE_CONFIG: its entry point makes REDIS_PASSWORD an argument.
      const ui = env('redis-ui');
      expect(ui['REDIS_PASSWORD'] ?? ui['REDIS_HOSTS']).toBeUndefined();
      expect(JSON.parse(ui['NODE_CONFIG'] ?? '{}')).toMatchObject({
        connections: [{ username: 'viewer', password: USER_PASSWORDS.REDIS_VIEWER_PASSWORD }], redis: { readOnly: true },
      });
      // The operator's password reaches only the broker (its health check) and the service writing the file.
      const holders = Object.entries(all).filter(([, s]) => Object.values(s.environment ?? {}).some((v) => String(v).includes(PASSWORD)));
      expect(holders.map(([name]) => name).sort()).toEqual(['message-broker', 'redis-acl']);
      const writer = all['redis-acl'] as Service;
      expect([writer.command ?? []].flat()).toEqual(['node', '/app/dist/bundle/cli.mjs', 'redis-acl', '--out', '/acl/users.acl']);
      expect(writer.network_mode).toBe('none');
      expect(writer.read_only).toBe(true);
      expect(writer.cap_drop).toEqual(['ALL']);
      expect(writer.cap_add ?? []).toEqual([]);
    }
  });

  it('[audit #63] the main orchestrator, which holds the Docker socket, is hardened and gets the socket\'s group only', async () => {
    const noGroup = await config(MAIN_FILES, { REDIS_PASSWORD: PASSWORD, ...TOKEN, ...USER_PASSWORDS });
    expect(noGroup.code).not.toBe(0);
    expect(noGroup.stderr).toContain('set DOCKER_GID in .env to the group that owns the Docker socket');
    for (const files of [MAIN_FILES, HOST_FILES]) {
      const all = await services(files);
      const main = all['main-orchestrator'] as Service;
      expect(main.read_only).toBe(true);
      expect(main.cap_drop).toEqual(['ALL']);
      expect(main.cap_add ?? []).toEqual([]);
      expect(main.security_opt).toContain('no-new-privileges:true');
      expect(main.privileged ?? false).toBe(false);
      expect((main.group_add ?? []).map(String)).toEqual(['998']);
      // The socket is the main orchestrator's alone.
      expect(Object.entries(all).filter(([, s]) => mountsSocket(s)).map(([name]) => name)).toEqual(['main-orchestrator']);
    }
  });

  it('[audit #64] the always-on domains run read-only, their agents as uid 1000 without capabilities, without the socket, within limits', async () => {
    for (const files of [MAIN_FILES, HOST_FILES]) {
      const all = await services(files);
      for (const name of DOMAINS) {
        const domain = all[name] as Service;
        expect(domain.read_only, name).toBe(true);
        expect(domain.cap_drop, name).toEqual(['ALL']);
        // Root with SETUID and SETGID alone, only for the agent to switch to DAN_RUN_AS, a non-root
        // user, before anything else; that drops the two and keeps its environment from its commands (#18).
        expect([...(domain.cap_add ?? [])].sort(), name).toEqual(['SETGID', 'SETUID']);
        expect(domain.user, name).toBe('0:0');
        expect(domain.environment?.['DAN_RUN_AS'], name).toMatch(/^[1-9]\d*:[1-9]\d*$/);
        expect(domain.security_opt, name).toContain('no-new-privileges:true');
        expect(domain.privileged ?? false, name).toBe(false);
        expect(domain.mem_limit, name).toBeDefined();
        expect(domain.pids_limit, name).toBe(256);
        expect(mountsSocket(domain), name).toBe(false);
      }
    }
  });
});
