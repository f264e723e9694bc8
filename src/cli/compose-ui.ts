import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { sleep } from '../../lib/clock.js';
import { packageRoot } from '../../lib/config.js';
import { DanError } from '../../lib/errors.js';
import { answersHttp } from './redis-commander.js';

/** The Redis Commander service of docker-compose.yml, in the `debug` profile, published on 8081. */
export const COMPOSE_UI = { service: 'redis-ui', profile: 'debug', port: 8081 } as const;
const PROJECT_LABEL = 'com.docker.compose.project';

/** A compose project as its containers' labels name it. */
export interface ComposeProject {
  name: string;
  /** The compose files it was started with (absolute paths on the host that started it). */
  files: string[];
  workingDir: string;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end; never throws (a missing program is exit code null). */
function run(program: string, args: string[], options: { cwd?: string; stdoutTo?: 'stderr' } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(program, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      if (options.stdoutTo) process.stderr.write(chunk);
      else stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (options.stdoutTo) process.stderr.write(chunk);
      stderr += chunk.toString();
    });
    child.once('error', (error) => resolve({ code: null, stdout, stderr: error.message }));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Parses `docker ps --format` lines of project name, config files and working folder (tab-separated). */
export function parseComposeProjects(text: string): ComposeProject[] {
  return text.split('\n').filter((line) => line.trim()).map((line) => {
    const [name = '', files = '', workingDir = ''] = line.split('\t');
    return { name: name.trim(), files: files.split(',').map((f) => f.trim()).filter(Boolean), workingDir: workingDir.trim() };
  }).filter((project) => project.name !== '');
}

/**
 * The compose project of a running main orchestrator container (labelled with `roleLabel=main` and
 * by compose), or undefined when there is none or no Docker engine answers the `docker` CLI.
 */
export async function runningComposeMain(roleLabel: string): Promise<ComposeProject | undefined> {
  const format = `{{.Label "${PROJECT_LABEL}"}}\t{{.Label "${PROJECT_LABEL}.config_files"}}\t{{.Label "${PROJECT_LABEL}.working_dir"}}`;
  const ps = await run('docker', ['ps', '--filter', `label=${roleLabel}=main`, '--filter', `label=${PROJECT_LABEL}`, '--format', format]);
  return ps.code === 0 ? parseComposeProjects(ps.stdout)[0] : undefined;
}

/** `docker compose` (v2), else `docker-compose` (v1), else undefined. */
export async function composeCommand(): Promise<string[] | undefined> {
  if ((await run('docker', ['compose', 'version'])).code === 0) return ['docker', 'compose'];
  if ((await run('docker-compose', ['version'])).code === 0) return ['docker-compose'];
  return undefined;
}

/**
 * The compose arguments that address the project: the running main's project and files when those
 * files are on this machine, else the package's docker-compose.yml. Undefined when neither exists.
 */
export function composeTarget(project: ComposeProject | undefined, root = packageRoot(), exists: (file: string) => boolean = existsSync): { args: string[]; cwd: string } | undefined {
  if (project && project.files.length > 0 && project.files.every(exists)) {
    return {
      args: ['-p', project.name, ...project.files.flatMap((file) => ['-f', file]), '--profile', COMPOSE_UI.profile],
      cwd: project.workingDir && exists(project.workingDir) ? project.workingDir : path.dirname(project.files[0] as string),
    };
  }
  const file = path.join(root, 'docker-compose.yml');
  if (!exists(file)) return undefined;
  return { args: [...(project ? ['-p', project.name] : []), '-f', file, '--profile', COMPOSE_UI.profile], cwd: root };
}

/** The host port of `docker compose port` output (`127.0.0.1:8081`, `[::]:8081`). */
export function parsePublishedPort(text: string): number | undefined {
  const port = Number(/:(\d+)\s*$/m.exec(text.trim())?.[1]);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

/**
 * Starts the compose `redis-ui` service (`up -d`: it keeps running after `dan inspect` exits) and
 * resolves with its URL. Compose's own output goes to stderr. Throws a DanError (exit 1) with what to
 * do when compose is missing or fails.
 */
export async function startComposeUi(project: ComposeProject | undefined, onWait: (message: string) => void): Promise<string> {
  const compose = await composeCommand();
  if (!compose) {
    throw new DanError('compose_missing', "cannot start the compose service redis-ui: neither 'docker compose' nor 'docker-compose' is installed; install Docker Compose, or run Redis Commander here with 'dan inspect --local'");
  }
  const target = composeTarget(project);
  if (!target) {
    throw new DanError('compose_file_missing', `cannot start the compose service redis-ui: no docker-compose.yml in ${packageRoot()}; run 'dan inspect --local' instead`);
  }
  const [program, ...base] = compose as [string, ...string[]];
  const up = await run(program, [...base, ...target.args, 'up', '-d', COMPOSE_UI.service], { cwd: target.cwd, stdoutTo: 'stderr' });
  if (up.code !== 0) {
    throw new DanError('compose_failed', `'${[...compose, ...target.args, 'up', '-d', COMPOSE_UI.service].join(' ')}' failed (${up.code === null ? up.stderr : `exit ${up.code}`}); see its output above, or run 'dan inspect --local'`);
  }
  const published = await run(program, [...base, ...target.args, 'port', COMPOSE_UI.service, String(COMPOSE_UI.port)], { cwd: target.cwd });
  const port = parsePublishedPort(published.stdout) ?? COMPOSE_UI.port;
  // 30 s: the container is created; Redis Commander needs a few seconds to listen.
  for (let i = 0; i < 120 && !(await answersHttp(`http://127.0.0.1:${port}`)); i++) await sleep(250);
  if (!(await answersHttp(`http://127.0.0.1:${port}`))) onWait(`redis-ui does not answer on port ${port} yet; see '${[...compose, ...target.args, 'logs', COMPOSE_UI.service].join(' ')}'`);
  return `http://localhost:${port}`;
}
