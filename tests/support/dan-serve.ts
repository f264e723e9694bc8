import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../../lib/config.js';

const bin = path.join(packageRoot(), 'dist/src/cli/main.js');

/** `dan serve` from dist/ as its own process; resolves with its URL once it listens. */
export async function serve(env: NodeJS.ProcessEnv, args: string[] = []): Promise<{ url: string; child: ChildProcess; stopped: Promise<number | null> }> {
  const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--json', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stopped = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => { err += chunk.toString(); });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line && out.includes('\n')) resolve((JSON.parse(line) as { url: string }).url);
    });
    void stopped.then((code) => reject(new Error(`dan serve exited ${code}: ${err}`)));
  });
  return { url, child, stopped };
}
