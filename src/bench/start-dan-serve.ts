import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../../lib/config.js';
import { poll } from './bench-kit.js';

/** A `dan serve` child process, as `startDanServe` leaves it. */
export interface DanServeProcess {
  /** Where it listens, as its `--json` line says: `http://127.0.0.1:PORT`. */
  url: string;
  child: ChildProcess;
  /** Its exit code once it exited (null when a signal ended it). */
  stopped: Promise<number | null>;
}

/**
 * `dan serve --port 0 --json` from dist/ as its own process (`args` added, such as `--host`), for the
 * bench and the tests that need the real server process; resolves once its /health answers, and
 * rejects with its stderr if it exits before. The one way both start it: the caller passes the whole
 * environment (REDIS_URL, DAN_KEY_PREFIX, ...) and stops it with `child.kill`.
 */
export async function startDanServe(options: { env: NodeJS.ProcessEnv; args?: string[]; cwd?: string }): Promise<DanServeProcess> {
  const cli = path.join(packageRoot(), 'dist/src/cli/main.js');
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--json', ...(options.args ?? [])], {
    env: options.env, stdio: ['ignore', 'pipe', 'pipe'], ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
  });
  const stopped = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => { err += chunk.toString(); });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      // The first whole line that is JSON: the one --json prints once it listens.
      const line = out.split('\n').find((l) => l.startsWith('{') && out.includes(`${l}\n`));
      if (line) resolve((JSON.parse(line) as { url: string }).url);
    });
    void stopped.then((code) => reject(new Error(`dan serve exited ${code} before it listened: ${err.trim()}`)));
  });
  await poll('dan serve /health', async () => ((await fetch(`${url}/health`).then((r) => r.ok, () => false)) ? true : undefined), 10_000, 50);
  return { url, child, stopped };
}
