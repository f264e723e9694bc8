import { mkdtempSync, mkdirSync, rmSync, symlinkSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describeWhere } from './requirement.js';
import { runProcess } from './run-process.js';
import { connectDocker } from '../../lib/spawner/docker-spawner.js';

// 5 s: a ping answers in milliseconds; an engine behind a dead DOCKER_HOST must not stall collection.
const PROBE_TIMEOUT_MS = 5_000;

let probe: Promise<string> | undefined;

/** Why no Docker engine answers here, or '' when one does. Probed once per test file. */
export function dockerProblem(): Promise<string> {
  probe ??= Promise.race([
    connectDocker().then(() => '', (error: Error) => error.message),
    new Promise<string>((resolve) => setTimeout(() => resolve(`no answer from the Docker engine within ${PROBE_TIMEOUT_MS / 1000} s`), PROBE_TIMEOUT_MS).unref()),
  ]);
  return probe;
}

export async function dockerAvailable(): Promise<boolean> {
  return (await dockerProblem()) === '';
}

/** True when the run must fail rather than skip without an engine (CI sets it where dockerd runs). */
export const dockerRequired = process.env['DAN_REQUIRE_DOCKER'] === '1';

const problem = await dockerProblem();

/**
 * `describe` for tests that need a real Docker engine. Without one the suite is skipped, and its
 * name says why; with DAN_REQUIRE_DOCKER=1 it fails instead, with the same reason.
 */
export function describeDocker(name: string, fn: () => void): void {
  describeWhere(name, problem, 'DAN_REQUIRE_DOCKER', fn);
}

/** The agent image the Docker tests run: DAN_AGENT_IMAGE, else what scripts/build-local-images.sh builds. */
export function testAgentImage(): string {
  return process.env['DAN_AGENT_IMAGE'] || 'dan/agent:local';
}

/** Runs a program without blocking the test process (see run-process.ts). */
export const runCommand = (program: string, args: string[], options: { input?: string; timeoutMs?: number } = {}) => runProcess(program, args, options);

/**
 * A tiny local image with busybox as /bin/sh and its applets (no registry needed), built once with
 * `docker import` from Debian's busybox-static. Resolves with the image name.
 */
export async function busyboxImage(name = 'dan-test/busybox:local', busybox = '/bin/busybox'): Promise<string> {
  if ((await runCommand('docker', ['image', 'inspect', name])).code === 0) return name;
  const root = mkdtempSync(path.join(os.tmpdir(), 'dan-busybox-'));
  try {
    mkdirSync(path.join(root, 'bin'));
    mkdirSync(path.join(root, 'tmp'));
    copyFileSync(busybox, path.join(root, 'bin', 'busybox'));
    const applets = (await runCommand(busybox, ['--list'])).stdout.split('\n').filter((applet) => /^[a-z0-9_.[-]+$/.test(applet) && applet !== 'busybox');
    for (const applet of applets) symlinkSync('busybox', path.join(root, 'bin', applet));
    const imported = await runCommand('bash', ['-c', 'tar -C "$1" -c . | docker import --change "ENV PATH=/bin" - "$2"', 'import', root, name]);
    if (imported.code !== 0) throw new Error(`docker import of ${name} failed: ${imported.stderr.trim()}`);
    return name;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Force-removes every container, running or not, that carries `label` (`key=value` or `key`). */
export async function removeContainers(label: string): Promise<void> {
  const docker = await connectDocker();
  const found = await docker.listContainers({ all: true, filters: { label: [label] } });
  await Promise.all(found.map((info) => docker.getContainer(info.Id).remove({ force: true }).catch((error: { statusCode?: number }) => {
    if (error.statusCode !== 404) throw error;
  })));
}

/**
 * Runs `command` in a container as a worker's Bash runs there: uid 1000 with the minimal environment
 * (lib/sandbox sandboxEnvironment), not the container's, which `docker exec` would otherwise pass on.
 * Resolves with its output and errors together.
 */
export async function execAsCommand(containerId: string, command: string): Promise<string> {
  const docker = await connectDocker();
  const minimalEnv = ['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/workspace', 'TMPDIR=/tmp'];
  const exec = await docker.getContainer(containerId).exec({ Cmd: ['env', '-i', ...minimalEnv, 'sh', '-c', command], User: '1000:1000', AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({});
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (chunk: Buffer) => parts.push(chunk));
  // stdout and stderr come multiplexed in frames; both are kept, without the frame headers.
  docker.modem.demuxStream(stream, out, out);
  await new Promise((resolve) => stream.on('end', resolve));
  return Buffer.concat(parts).toString('utf8');
}
