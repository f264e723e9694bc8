import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FarmStore } from '../../lib/farm/farm-store.js';
import type { Rule } from '../../lib/llm/local-server/rules.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';
import { farmRepo, farmRules, problemsIn } from './farm-fixture.js';

let network: TestNetwork;
let farmDir: string;
const repos: string[] = [];
const sessions: string[] = [];

// A farm whose task says "Slowly": every first model answer takes 5 s, so it can be stopped while it runs.
const slow: Rule = { name: 'slow-farm', when: { system: '^Domain: farm$', anyText: '^Task: Slowly fix', hasToolResult: false }, reply: { delay_ms: 5_000, text: '{"summary": "thinking"}' } };

beforeAll(async () => {
  farmDir = mkdtempSync(path.join(os.tmpdir(), 'dan-farm-wt-'));
  // ELF on: the farm asks it for context, and it records the farm's outcome like any task's.
  network = await startTestNetwork({ rules: farmRules([slow]), env: { DAN_FARM_DIR: farmDir, DAN_FARM_ROOTS: os.tmpdir() } });
}, 60_000);

afterAll(async () => {
  for (const s of sessions) spawnSync('tmux', ['kill-session', '-t', s]);
  await network?.stop();
  for (const dir of [...repos, farmDir]) rmSync(dir, { recursive: true, force: true });
});

function dan(args: string[], timeoutMs = 300_000) {
  return runProcess(process.execPath, ['dist/bundle/cli.mjs', ...args], { env: cliEnv(network), timeoutMs });
}

function repo(): string {
  const dir = farmRepo();
  repos.push(dir);
  return dir;
}

describe('dan farm on the command line', () => {
  it('dan send farm runs a farm through the bus; dan farm status shows every agent; dan farm attach opens read-only tmux panes', async () => {
    const dir = repo();
    const sent = await dan(['send', 'farm', 'Fix every lint problem', '-c', JSON.stringify({ path: dir, agent_count: 2, problems_command: 'node check.mjs' }), '--wait', '-t', '600']);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toContain('completed');
    expect(sent.stdout).toContain('problems 8 -> 0');
    const farmId = /^queued (\S+) for farm/m.exec(sent.stderr)?.[1];
    expect(farmId).toBeDefined();
    expect(sent.stderr).toContain('agent-1 took chunk');

    const status = await dan(['farm', 'status', farmId!]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`farm ${farmId}: completed`);
    expect(status.stdout).toContain('problems 8 -> 0; chunks 6 done of 6');
    expect(status.stdout).toMatch(/agent-1 +finished +chunk - +locked \[\] +restarts 0 +tokens [1-9]\d* in/);
    expect(status.stdout).toMatch(/agent-2 .* tokens [1-9]\d* in/);
    expect(status.stdout).toContain('last: done:');
    const json = JSON.parse((await dan(['farm', 'status', farmId!, '--json'])).stdout);
    expect(json.farm.status).toBe('completed');
    expect(json.agents.map((a: { name: string }) => a.name)).toEqual(['agent-1', 'agent-2']);

    // ELF gave the agents its context, and recorded the farm's outcome from its task.finished event.
    expect(sent.stderr).toMatch(/farm: ELF: /);
    await until('ELF to record the farm', async () => {
      const stats = JSON.parse((await dan(['elf', 'stats', '--json'])).stdout || '{}') as { outcomes?: { byStatus?: Record<string, number> } };
      return (stats.outcomes?.byStatus?.['completed'] ?? 0) >= 1;
    }, 60_000);

    const listed = await dan(['farm', 'status']);
    expect(listed.stdout).toContain(farmId);

    const attach = await dan(['farm', 'attach', farmId!, '--no-attach']);
    expect(attach.code, attach.stderr).toBe(0);
    const session = `dan-farm-${farmId!.slice(0, 8)}`;
    sessions.push(session);
    expect(attach.stdout).toContain(`tmux session ${session}: 2 pane(s) (agent-1, agent-2)`);
    const panes = execFileSync('tmux', ['list-panes', '-t', session, '-F', '#{pane_id} #{pane_input_off}'], { encoding: 'utf8' }).trim().split('\n');
    expect(panes).toHaveLength(2);
    // Read-only: no pane takes input.
    expect(panes.every((p) => p.endsWith(' 1'))).toBe(true);
    for (const pane of panes) {
      const text = await until(`pane ${pane} to show its agent's events`, async () => {
        const shown = execFileSync('tmux', ['capture-pane', '-p', '-t', pane.split(' ')[0]!], { encoding: 'utf8' });
        return shown.includes(`-- farm ${farmId}: completed --`) ? shown : undefined;
      }, 30_000);
      expect(text).toMatch(/Read .*src\//);
      expect(text).toContain('done:');
    }
  }, 360_000);

  it('dan farm start --wait runs a farm (SDK runtime) and exits 0 with the counts', async () => {
    const dir = repo();
    const run = await dan(['farm', 'start', '--path', dir, '--agents', '2', '--problems', 'node check.mjs', '--runtime', 'sdk', '--wait']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('problems 8 -> 0');
    const branch = /result on branch (\S+)/.exec(run.stdout)?.[1];
    expect(problemsIn(dir, branch)).toEqual([]);
  }, 360_000);

  it('dan farm stop stops the agents; the farm ends failed with why, and no agent process is left', async () => {
    const dir = repo();
    const started = await dan(['farm', 'start', 'Slowly fix every lint problem', '--path', dir, '--agents', '2', '--problems', 'node check.mjs']);
    expect(started.code, started.stderr).toBe(0);
    const farmId = started.stdout.trim();
    const store = new FarmStore(network.redis, network.keys, farmId);
    const pids = await until('both agents running', async () => {
      const agents = await Promise.all(['agent-1', 'agent-2'].map((a) => store.agent(a)));
      return agents.every((a) => a['status'] === 'working' && a['pid']) ? agents.map((a) => Number(a['pid'])) : undefined;
    }, 60_000);
    const stopped = await dan(['farm', 'stop', farmId, '--wait']);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stdout).toContain('failed');
    const hash = await network.waitFor(farmId, 60_000);
    expect(hash['status']).toBe('failed');
    expect(hash['error']).toContain('stopped by dan farm stop');
    // A person stopped it: cancelled, which teaches ELF nothing.
    expect(JSON.parse(hash['output']!).failure).toEqual({ code: 'cancelled', retryable: false });
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    expect((await store.state())['status']).toBe('failed');
  }, 360_000);
});
