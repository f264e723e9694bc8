import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FarmStore } from '../../lib/farm/farm-store.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { runProcess } from '../support/run-process.js';
import { farmRepo, farmRules } from './farm-fixture.js';

let network: TestNetwork;
let repo: string;
let notRepo: string;
let farmDir: string;

beforeAll(async () => {
  repo = farmRepo();
  notRepo = mkdtempSync(path.join(os.tmpdir(), 'dan-not-a-repo-'));
  farmDir = mkdtempSync(path.join(os.tmpdir(), 'dan-farm-wt-'));
  // No Claude Code CLI on this network's farm host.
  network = await startTestNetwork({ rules: farmRules(), env: {
    DAN_FARM_DIR: farmDir, DAN_ELF: 'off', DAN_CLAUDE_PATH: '/nonexistent/bin/claude', DAN_FARM_MAX_AGENTS: '6',
    // The fixtures live in the temporary folder, outside the network's workspace; the victim repository of the path tests is not listed.
    DAN_FARM_ROOTS: [repo, notRepo].join(path.delimiter),
  } });
}, 60_000);

afterAll(async () => {
  await network?.stop();
  for (const dir of [repo, notRepo, farmDir]) rmSync(dir, { recursive: true, force: true });
});

async function refusal(context: Record<string, unknown>, client?: string): Promise<string> {
  const { taskId } = await submitTask(network.redis, network.keys, {
    domain: 'farm', description: 'Fix every lint problem', context, timeoutSeconds: 120, ...(client ? { extraMetadata: { client_id: client } } : {}),
  });
  const hash = await network.waitFor(taskId, 90_000);
  expect(hash['status']).toBe('failed');
  // Refused before any agent started: no agent state, no worktree.
  expect(await new FarmStore(network.redis, network.keys, taskId).agentNames()).toEqual([]);
  expect(existsSync(path.join(farmDir, taskId))).toBe(false);
  expect(JSON.parse(hash['output']!).failure).toEqual({ code: 'farm_refused', retryable: false });
  return hash['error'] ?? '';
}

describe('farm bad input, refused with reason and fix before any agent starts', () => {
  it('a path that is not a git repository', async () => {
    const error = await refusal({ path: notRepo, agent_count: 2, problems_command: 'node check.mjs', runtime: 'sdk' });
    expect(error).toContain(`${notRepo} is not a git repository`);
    expect(error).toContain("run 'git init && git add -A && git commit -m start'");
  }, 120_000);

  it('a problems command that does not exist', async () => {
    const error = await refusal({ path: repo, agent_count: 2, problems_command: 'no-such-linter --all', runtime: 'sdk' });
    expect(error).toContain('the problems command `no-such-linter --all` was not found');
    expect(error).toContain('check its spelling');
  }, 120_000);

  it('a problems command that fails without problems output', async () => {
    const error = await refusal({ path: repo, agent_count: 2, problems_command: 'echo "config file missing" >&2; exit 3', runtime: 'sdk' });
    expect(error).toContain('failed (exit 3) without problems the farm can read');
    expect(error).toContain('config file missing');
  }, 120_000);

  it('zero agents, and more than the cap', async () => {
    expect(await refusal({ path: repo, agent_count: 0, problems_command: 'node check.mjs', runtime: 'sdk' })).toContain('a farm needs at least 1 agent');
    expect(await refusal({ path: repo, agent_count: 7, problems_command: 'node check.mjs', runtime: 'sdk' }))
      .toContain('context.agent_count is 7, more than the cap of 6: ask for fewer agents, or raise DAN_FARM_MAX_AGENTS');
  }, 120_000);

  it('no Claude Code CLI installed', async () => {
    const error = await refusal({ path: repo, agent_count: 2, problems_command: 'node check.mjs' });
    expect(error).toContain('the Claude Code CLI (/nonexistent/bin/claude) is not installed');
    expect(error).toContain('use the SDK runtime');
  }, 120_000);

  it('a path out of its roots, by .. or by a symlink [audit #68]', async () => {
    const victim = farmRepo();
    try {
      const relative = path.relative(network.workspace, victim);
      expect(relative.startsWith('..')).toBe(true);
      const byDots = await refusal({ path: relative, agent_count: 1, problems_command: 'id > escaped.txt', runtime: 'sdk' });
      expect(byDots).toContain(`is outside the folders a farm may work on`);
      expect(byDots).toContain('add its folder to DAN_FARM_ROOTS');
      symlinkSync(victim, path.join(network.workspace, 'victim-link'));
      const byLink = await refusal({ path: 'victim-link', agent_count: 1, problems_command: 'id > escaped.txt', runtime: 'sdk' });
      expect(byLink).toContain(`(${realpathSync(victim)}) is outside the folders a farm may work on`);
      // Refused before anything ran there: no command output, no farm branch.
      expect(existsSync(path.join(victim, 'escaped.txt'))).toBe(false);
      expect(execFileSync('git', ['branch', '--list', 'dan-farm/*'], { cwd: victim, encoding: 'utf8' })).toBe('');
    } finally {
      rmSync(victim, { recursive: true, force: true });
    }
  }, 120_000);

  it("a client's farm on a repository outside its client's folder, even one DAN_FARM_ROOTS lists", async () => {
    const error = await refusal({ path: repo, agent_count: 1, problems_command: 'node check.mjs', runtime: 'sdk' }, 'acme');
    expect(error).toContain('is outside the folders a farm may work on');
    expect(error).toContain(path.join(network.workspace, 'clients', 'acme'));
  }, 120_000);

  it('[audit #67] a path of the system, /etc: refused, and nothing runs there', async () => {
    const error = await refusal({ path: '/etc', agent_count: 1, problems_command: 'id > escaped.txt', runtime: 'sdk' });
    expect(error).toContain('is outside the folders a farm may work on');
    expect(existsSync('/etc/escaped.txt')).toBe(false);
  }, 120_000);

  it('[audit #70] a repository outside the roots, named by its absolute path with problems given: no branch is written into it', async () => {
    const victim = farmRepo();
    try {
      const refs = () => execFileSync('git', ['for-each-ref', '--format=%(refname)'], { cwd: victim, encoding: 'utf8' });
      const before = refs();
      const error = await refusal({ path: victim, agent_count: 1, runtime: 'sdk', problems: ['a.ts:1: fix this'] });
      expect(error).toContain(`(${realpathSync(victim)}) is outside the folders a farm may work on`);
      expect(refs()).toBe(before);
      expect(execFileSync('git', ['worktree', 'list'], { cwd: victim, encoding: 'utf8' }).trim().split('\n')).toHaveLength(1);
    } finally {
      rmSync(victim, { recursive: true, force: true });
    }
  }, 120_000);

  it("[audit #69] a problems command that writes outside and prints the agent's secrets: it runs in the sandbox, and no secret reaches the result or the logs", async () => {
    const secret = 'sk-ant-api03-TESTSECRETxyzzy0123456789abcdefABCDEF';
    const outside = mkdtempSync(path.join(os.tmpdir(), 'dan-farm-outside-'));
    const saved = { key: process.env['ANTHROPIC_API_KEY'], url: process.env['REDIS_URL'] };
    // The farm agent runs in this process (the in-process spawner): its environment holds the secrets, as a domain's does.
    process.env['ANTHROPIC_API_KEY'] = secret;
    process.env['REDIS_URL'] = network.config.redisUrl;
    try {
      const target = path.join(outside, 'farm-rce.txt');
      const command = `id > ${target}; printenv ANTHROPIC_API_KEY; printenv REDIS_URL; exit 1`;
      const { taskId } = await submitTask(network.redis, network.keys, { domain: 'farm', description: 'Fix every type error', context: { path: repo, agent_count: 1, runtime: 'sdk', problems_command: command }, timeoutSeconds: 120 });
      const hash = await network.waitFor(taskId, 90_000);
      expect(hash['status']).toBe('failed');
      expect(hash['error']).toContain('failed (exit 1) without problems the farm can read');
      const stored = JSON.stringify([hash, await network.redis.lrange(network.keys.logs(taskId), 0, -1)]);
      expect(stored).not.toContain(secret);
      expect(stored).not.toContain(network.config.redisUrl);
      expect(existsSync(target)).toBe(false);
    } finally {
      for (const [name, value] of [['ANTHROPIC_API_KEY', saved.key], ['REDIS_URL', saved.url]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      rmSync(outside, { recursive: true, force: true });
    }
  }, 120_000);

  it('a task that tries to choose the program agents run', async () => {
    const error = await refusal({ path: repo, agent_count: 2, problems_command: 'node check.mjs', runtime: 'sdk', agent_command: '/bin/sh -c "curl evil"' });
    expect(error).toContain('context.agent_command is not accepted');
  }, 120_000);

  it('dan farm start refuses bad counts, a bad budget and a missing path itself, exit 2', async () => {
    const cli = (args: string[]) => runProcess(process.execPath, ['dist/bundle/cli.mjs', 'farm', 'start', ...args], { env: cliEnv(network, { DAN_FARM_MAX_AGENTS: '6' }) });
    const zero = await cli(['--path', repo, '--agents', '0', '--problems', 'node check.mjs']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('--agents must be a whole number of at least 1');
    const many = await cli(['--path', repo, '--agents', '9', '--problems', 'node check.mjs']);
    expect(many.code).toBe(2);
    expect(many.stderr).toContain('more than the cap of 6');
    const budget = await cli(['--path', repo, '--problems', 'node check.mjs', '--budget-usd', '-3']);
    expect(budget.code).toBe(2);
    expect(budget.stderr).toContain('--budget-usd must be more than 0 dollars');
    const noPath = await cli(['--problems', 'node check.mjs']);
    expect(noPath.code).toBe(2);
    expect(noPath.stderr).toContain('--path is required');
    expect(readdirSync(farmDir)).toEqual([]);
  }, 60_000);
});
