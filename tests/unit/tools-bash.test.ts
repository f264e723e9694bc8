import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { commandShell, createBashTool } from '../../lib/llm/tools/bash-tool.js';
import { scrubEnvironment } from '../../lib/llm/tools/scrub-environment.js';
import { ToolError } from '../../lib/llm/tools/tool-error.js';
import type { ToolContext } from '../../lib/llm/tools/worker-tool.js';
import { FileTracker } from '../../lib/workspace/file-tracker.js';
import { WorkspaceJail } from '../../lib/workspace/workspace-jail.js';
import { sleepRuns } from '../support/run-process.js';

let root: string;
let ctx: ToolContext;

beforeEach(() => {
  root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'dan-bash-')));
  ctx = { jail: new WorkspaceJail(root), tracker: new FileTracker(), bashTimeoutMs: 30_000, maxOutputBytes: 10_000 };
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

const bash = (input: Record<string, unknown>, context: ToolContext = ctx) => createBashTool().run(input, context);

async function failure(input: Record<string, unknown>, context: ToolContext = ctx): Promise<string> {
  try {
    await bash(input, context);
  } catch (error) {
    if (error instanceof ToolError) return error.message;
    throw error;
  }
  throw new Error('the command succeeded');
}

/** A sleep length no other test on the machine uses at the same time. */
const uniqueSeconds = () => 100_000 + Math.floor(Math.random() * 800_000);

describe('Bash', () => {
  it('runs in the workspace root and reports the exit code', async () => {
    const result = await bash({ command: 'pwd && echo hi > made.txt' });
    expect(result).toBe(`${root}\n[exit code 0]`);
    expect(readFileSync(path.join(root, 'made.txt'), 'utf8')).toBe('hi\n');
  });

  it('interleaves stdout and stderr in the order written', async () => {
    expect(await bash({ command: 'echo one; echo two >&2; echo three' })).toBe('one\ntwo\nthree\n[exit code 0]');
  });

  it('returns a non-zero exit as a tool error with the output', async () => {
    const message = await failure({ command: 'echo "cannot find module" >&2; exit 3' });
    expect(message).toBe('command failed with exit code 3\ncannot find module\n[exit code 3]');
  });

  it('kills a command that outlives its timeout and keeps what it printed', async () => {
    const message = await failure({ command: 'echo started; sleep 20', timeout: 300 });
    expect(message).toContain('command timed out after 300 ms and was killed');
    expect(message).toContain('started');
  });

  it('caps the timeout at bashTimeoutMs whatever the model asks for', async () => {
    const message = await failure({ command: 'sleep 20', timeout: 600_000 }, { ...ctx, bashTimeoutMs: 300 });
    expect(message).toContain('timed out after 300 ms');
  });

  it('truncates long output to maxOutputBytes, keeping the start and the end, and says so', async () => {
    const result = await bash({ command: 'echo FIRST; head -c 50000 /dev/zero | tr "\\0" a; echo; echo LAST' }, { ...ctx, maxOutputBytes: 1000 });
    expect(Buffer.byteLength(result)).toBeLessThan(1200);
    expect(result.startsWith('FIRST\n')).toBe(true);
    expect(result).toMatch(/\[output truncated: \d+ of 50012 bytes left out; /);
    expect(result.endsWith('LAST\n[exit code 0]')).toBe(true);
  });

  it('hides credentials, and the rest of the agent\'s environment, from the command', async () => {
    const names = ['ANTHROPIC_API_KEY', 'REDIS_URL', 'REDIS_PASSWORD', 'GITHUB_TOKEN', 'AWS_SECRET', 'STRIPE_KEY'];
    const saved = new Map(names.concat('DAN_VISIBLE').map((name) => [name, process.env[name]]));
    for (const name of names) process.env[name] = 'leaked-value';
    process.env['DAN_VISIBLE'] = 'shown';
    try {
      // Filtered so a large environment cannot push the lines we look for out of the output cap.
      const result = await bash({ command: "env | grep -E 'leaked-value|DAN_VISIBLE' || echo none" });
      expect(result).toBe('none\n[exit code 0]');
    } finally {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('kills the command and what it started when the task is aborted', async () => {
    const controller = new AbortController();
    const pidFile = path.join(root, 'sleep.pid');
    const seconds = uniqueSeconds();
    const running = bash({ command: `sleep ${seconds} & echo $! > ${pidFile}; wait` }, { ...ctx, signal: controller.signal });
    const settled = running.then(
      () => 'resolved',
      (error: unknown) => error,
    );
    await vi.waitFor(() => expect(existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '').toBe(true), { timeout: 10_000 });
    await vi.waitFor(() => expect(sleepRuns(seconds)).toBe(true), { timeout: 10_000 });

    controller.abort();
    const outcome = await settled;
    expect(outcome).toMatchObject({ code: 'aborted', name: 'AbortError' });
    await vi.waitFor(() => expect(sleepRuns(seconds)).toBe(false), { timeout: 10_000 });
  });

  it('kills what a command left running in the background once it exits', async () => {
    const pidFile = path.join(root, 'bg.pid');
    const seconds = uniqueSeconds();
    expect(await bash({ command: `sleep ${seconds} > /dev/null & echo $! > ${pidFile}` })).toBe('(no output)\n[exit code 0]');
    expect(readFileSync(pidFile, 'utf8').trim()).not.toBe('');
    await vi.waitFor(() => expect(sleepRuns(seconds)).toBe(false), { timeout: 10_000 });
  });
});

describe('Bash where bash is not installed', () => {
  it('finds bash on the PATH, and falls back to sh where the PATH has none', () => {
    const bin = path.join(root, 'bin');
    mkdirSync(bin);
    symlinkSync('/bin/sh', path.join(bin, 'sh'));
    expect(commandShell(`${bin}::/nonexistent`)).toBe('sh');
    symlinkSync('/bin/sh', path.join(bin, 'bash'));
    expect(commandShell(bin)).toBe('bash');
  });

  it('runs the command with sh, and tells the model to write sh', async () => {
    const tool = createBashTool('sh');
    expect(tool.definition.description).toContain('bash is not installed here: use POSIX sh syntax');
    expect(createBashTool('bash').definition.description).toMatch(/^Runs a bash command in the workspace root/);
    expect(await tool.run({ command: 'echo "$0" && echo oops >&2 && pwd' }, ctx)).toBe(`sh\noops\n${root}\n[exit code 0]`);
  });
});

describe('scrubEnvironment', () => {
  it('drops named credentials and anything ending in _TOKEN, _SECRET or _KEY', () => {
    expect(
      scrubEnvironment({
        PATH: '/bin',
        ANTHROPIC_API_KEY: 'x',
        REDIS_URL: 'redis://:p@h',
        REDIS_PASSWORD: 'p',
        // compose's per-user Redis passwords (main passes REDIS_AGENT_PASSWORD on; none reaches a command).
        REDIS_MAIN_PASSWORD: 'm',
        REDIS_AGENT_PASSWORD: 'a',
        REDIS_CLIENT_PASSWORD: 'c',
        REDIS_VIEWER_PASSWORD: 'v',
        NPM_TOKEN: 't',
        CLIENT_SECRET: 's',
        SSH_KEY: 'k',
        KEYBOARD: 'us',
      }),
    ).toEqual({ PATH: '/bin', KEYBOARD: 'us' });
  });
});
