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
const TOKEN = { DAN_GATEWAY_COMPOSE_TOKEN: 'compose-audit-token-0123456789' };
const VARIABLES = { REDIS_PASSWORD: PASSWORD, DOCKER_GID: '998', ...TOKEN };
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
  it('[audit #62] Redis refuses to start without a password, requires it, and is published on 127.0.0.1 only', async () => {
    const open = await config(MAIN_FILES, { DOCKER_GID: '998', ...TOKEN });
    expect(open.code).not.toBe(0);
    expect(open.stderr).toContain('set REDIS_PASSWORD in .env');
    for (const files of [MAIN_FILES, HOST_FILES]) {
      const all = await services(files);
      const broker = all['message-broker'] as Service;
      const command = [broker.command ?? []].flat().join(' ');
      // requirepass reaches redis-server on its standard input, never as an argument `ps` shows.
      expect(command).toMatch(/requirepass %s.*\| exec redis-server - /);
      expect(command).not.toContain(PASSWORD);
      for (const port of broker.ports ?? []) expect(typeof port === 'string' ? port : port.host_ip).toMatch(/^127\.0\.0\.1/);
      if (broker.network_mode === 'host') expect(command).toContain('--bind 127.0.0.1');
      for (const [name, service] of Object.entries(all)) {
        const url = service.environment?.['REDIS_URL'] ?? service.environment?.['REDIS_HOSTS'];
        if (url !== undefined) expect(url, name).toContain(PASSWORD);
      }
    }
  });

  it('[audit #63] the main orchestrator, which holds the Docker socket, is hardened and gets the socket\'s group only', async () => {
    const noGroup = await config(MAIN_FILES, { REDIS_PASSWORD: PASSWORD, ...TOKEN });
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
