import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { farmPathOutsideRoots } from '../../lib/farm/farm-request.js';
import { runProblemsCommand } from '../../lib/farm/problems-command.js';
import { createBashTool } from '../../lib/llm/tools/bash-tool.js';
import { bubblewrapArgs } from '../../lib/sandbox/bubblewrap-sandbox.js';
import { sandboxEnvironment, SandboxUnavailableError } from '../../lib/sandbox/command-sandbox.js';
import { chooseSandbox } from '../../lib/sandbox/resolve-sandbox.js';
import { RefusingSandbox } from '../../lib/sandbox/unsandboxed-runner.js';
import { FileTracker } from '../../lib/workspace/file-tracker.js';
import { WorkspaceJail } from '../../lib/workspace/workspace-jail.js';

describe('chooseSandbox', () => {
  const works = { bubblewrapProblem: undefined, inContainer: false };
  const broken = { bubblewrapProblem: 'bwrap could not be started (spawn bwrap ENOENT)', inContainer: false };

  it('takes bubblewrap wherever it works, in auto and bubblewrap modes', () => {
    expect(chooseSandbox('auto', works).kind).toBe('bubblewrap');
    expect(chooseSandbox('bubblewrap', { ...works, inContainer: true }).kind).toBe('bubblewrap');
  });

  it('refuses commands on a host without bubblewrap, rather than run them with the agent\'s rights', () => {
    expect(chooseSandbox('auto', broken)).toEqual({ kind: 'refused', reason: broken.bubblewrapProblem });
    expect(chooseSandbox('bubblewrap', { ...broken, inContainer: true }).kind).toBe('refused');
  });

  it('counts the container as the sandbox only in auto mode', () => {
    expect(chooseSandbox('auto', { ...broken, inContainer: true }).kind).toBe('container');
  });

  it('runs unconfined only when DAN_SANDBOX=off says so', () => {
    expect(chooseSandbox('off', works).kind).toBe('off');
  });
});

describe('a refused command', () => {
  it('names the setting and the package that fix it', () => {
    const error = (() => {
      try {
        new RefusingSandbox('bwrap could not be started').spawn();
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(SandboxUnavailableError);
    expect(String((error as Error).message)).toMatch(/apt-get install bubblewrap.*DAN_SANDBOX=off/);
  });
});

describe('commands where no sandbox can be had', () => {
  const refusing = new RefusingSandbox('bwrap could not be started');

  it('Bash answers the model with the reason and the fix, and runs nothing', async () => {
    const root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'dan-refused-')));
    try {
      const ctx = { jail: new WorkspaceJail(root), tracker: new FileTracker(), bashTimeoutMs: 10_000, maxOutputBytes: 10_000, sandbox: refusing };
      await expect(createBashTool().run({ command: 'touch ran' }, ctx)).rejects.toThrow(/bash could not be started: commands are refused: bwrap could not be started.*DAN_SANDBOX=off/);
      expect(existsSync(path.join(root, 'ran'))).toBe(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('a problems command is reported as unable to run, with the fix', async () => {
    const run = await runProblemsCommand('npm run lint', os.tmpdir(), 10_000, { sandbox: refusing });
    expect(run).toMatchObject({ exitCode: null, problems: [], missing: true });
    expect(run.output).toContain('apt-get install bubblewrap');
  });
});

describe('sandboxEnvironment', () => {
  it('is built from nothing: no credential and no other variable of the agent reaches a command', () => {
    const env = sandboxEnvironment(
      { argv: ['true'], cwd: '/work/ws', env: { CI: '1' }, stdio: 'ignore' },
      { PATH: '/usr/bin', ANTHROPIC_API_KEY: 'sk', REDIS_URL: 'redis://:p@h', SESSION_COOKIE: 'c', LANG: 'C.UTF-8', GIT_AUTHOR_NAME: 'Ann' },
    );
    expect(env).toEqual({ PATH: '/usr/bin', HOME: '/work/ws', TMPDIR: '/tmp', LANG: 'C.UTF-8', GIT_AUTHOR_NAME: 'Ann', CI: '1' });
  });
});

describe('bubblewrapArgs', () => {
  it('unshares every namespace, drops capabilities, and binds only the command\'s folder writable', () => {
    const args = bubblewrapArgs({ argv: ['sh', '-c', 'x'], cwd: '/work/ws', readOnly: ['/repo/.git'] }, '/usr');
    expect(args.slice(0, 5)).toEqual(['--unshare-all', '--cap-drop', 'ALL', '--die-with-parent', '--new-session']);
    const writable = args.flatMap((arg, i) => (arg === '--bind' ? [args[i + 1]] : []));
    expect(writable).toEqual(['/work/ws']);
    expect(args.join(' ')).toContain('--ro-bind /repo/.git /repo/.git');
    expect(args.slice(-5)).toEqual(['/work/ws', '--', 'sh', '-c', 'x']);
    // Only chosen files of /etc: never the whole folder, which may hold a service's password.
    expect(args).not.toContain('/etc');
  });
});

describe('farmPathOutsideRoots', () => {
  let base: string;
  beforeEach(() => {
    base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'dan-farm-roots-')));
    mkdirSync(path.join(base, 'ws', 'app'), { recursive: true });
    mkdirSync(path.join(base, 'victim-repo'));
    mkdirSync(path.join(base, 'allowed', 'repo'), { recursive: true });
    symlinkSync(path.join(base, 'victim-repo'), path.join(base, 'ws', 'link'));
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('takes a folder under a root', () => {
    expect(farmPathOutsideRoots([path.join(base, 'ws', 'app')], [path.join(base, 'ws')])).toBeUndefined();
    expect(farmPathOutsideRoots([path.join(base, 'allowed', 'repo')], [path.join(base, 'ws'), path.join(base, 'allowed')])).toBeUndefined();
  });

  it('refuses .. and a symlink out of the roots, naming the setting that allows more', () => {
    const roots = [path.join(base, 'ws')];
    expect(farmPathOutsideRoots([path.join(base, 'ws', '..', 'victim-repo')], roots)).toContain('add its folder to DAN_FARM_ROOTS');
    expect(farmPathOutsideRoots([path.join(base, 'ws', 'link')], roots)).toContain(`(${path.join(base, 'victim-repo')}) is outside`);
    // A root that is itself a prefix of the name is no parent: ws-other is not under ws.
    mkdirSync(path.join(base, 'ws-other'));
    expect(farmPathOutsideRoots([path.join(base, 'ws-other')], roots)).toBeDefined();
  });
});
