import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FarmEvent } from '../../lib/farm/farm-store.js';
import { FarmStore } from '../../lib/farm/farm-store.js';
import type { Rule } from '../../lib/llm/local-server/rules.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { startTestNetwork } from '../support/network.js';
import { farmRepo, farmRules } from './farm-fixture.js';

let network: TestNetwork | undefined;
const cleanup: string[] = [];
afterEach(async () => {
  await network?.stop();
  network = undefined;
  for (const dir of cleanup.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Two files whose fixes both need a line of src/shared.js: both agents want that file. */
function sharedFileRepo(): string {
  return farmRepo((dir) => {
    for (const name of readdirSync(path.join(dir, 'src'))) rmSync(path.join(dir, 'src', name), { recursive: true });
    writeFileSync(path.join(dir, 'src', 'a.js'), "export const a = 1; // TODO-LINT: finish a; SHARED-EDIT: a\n");
    writeFileSync(path.join(dir, 'src', 'b.js'), "export const b = 2; // TODO-LINT: finish b; SHARED-EDIT: b\n");
    writeFileSync(path.join(dir, 'src', 'shared.js'), ["export const a = 'a-PENDING';", '// one', '// two', '// three', "export const b = 'b-PENDING';", ''].join('\n'));
  });
}

const KEY = 'SHARED-EDIT: (?<key>[a-z]+)';
const sharedEdit = { name: 'Edit', input: { file_path: '{{cwd}}/src/shared.js', old_string: '{{key}}-PENDING', new_string: '{{key}}-DONE' } };
const sharedRules: Rule[] = [
  // Each agent keeps the shared file locked a while after its edit (its chunk is not done yet), so the
  // other one, about as far along, finds it locked.
  { name: 'shared-done', when: { system: '^Domain: farm$', lastUser: 'shared\\.js has been updated' }, reply: { delay_ms: 5_000, text: '{"summary": "fixed, with shared.js"}' } },
  // Refused because the other agent holds it: wait, then try again.
  { name: 'shared-wait', when: { system: '^Domain: farm$', lastUser: '(?i)is locked by', anyText: KEY }, reply: { delay_ms: 700, tool_use: [sharedEdit] } },
  { name: 'shared-edit-late', when: { system: '^Domain: farm$', anyText: `You are agent-2 of farm[\\s\\S]*${KEY}`, hasToolResult: true, lastUser: '-PENDING' }, reply: { delay_ms: 1_500, tool_use: [sharedEdit] } },
  { name: 'shared-edit', when: { system: '^Domain: farm$', anyText: KEY, hasToolResult: true, lastUser: '-PENDING' }, reply: { tool_use: [sharedEdit] } },
  { name: 'shared-read', when: { system: '^Domain: farm$', anyText: KEY, hasToolResult: true, lastUser: 'has been updated' }, reply: { tool_use: [{ name: 'Read', input: { file_path: '{{cwd}}/src/shared.js' } }] } },
];

/** Who held each file's lock when, from the recorded lock and unlock events. */
function lockIntervals(events: FarmEvent[]): Map<string, Array<{ agent: string; from: string; to: string }>> {
  const open = new Map<string, { agent: string; from: string }>();
  const intervals = new Map<string, Array<{ agent: string; from: string; to: string }>>();
  for (const e of events) {
    if (!e.file || !e.agent) continue;
    if (e.type === 'lock') {
      expect(open.has(e.file), `${e.agent} took the lock on ${e.file} while ${open.get(e.file)?.agent} held it`).toBe(false);
      open.set(e.file, { agent: e.agent, from: e.id });
    } else if (e.type === 'unlock') {
      const held = open.get(e.file);
      expect(held?.agent).toBe(e.agent);
      open.delete(e.file);
      intervals.set(e.file, [...(intervals.get(e.file) ?? []), { agent: e.agent, from: held!.from, to: e.id }]);
    }
  }
  return intervals;
}

function streamIdBefore(a: string, b: string): boolean {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am < bm || (am === bm && as < bs);
}

describe('farm file locks', () => {
  it('two agents wanting the same file never edit it at once: the second waits for the lock, then edits', async () => {
    const repo = sharedFileRepo();
    const farmDir = mkdtempSync(path.join(os.tmpdir(), 'dan-farm-wt-'));
    cleanup.push(repo, farmDir);
    network = await startTestNetwork({ rules: farmRules(sharedRules), env: { DAN_FARM_DIR: farmDir, DAN_FARM_ROOTS: os.tmpdir(), DAN_ELF: 'off' } });
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, {
      domain: 'farm', description: 'Fix every lint problem',
      context: { path: repo, agent_count: 2, problems_command: 'node check.mjs' }, timeoutSeconds: 600,
    });
    const hash = await network.waitFor(taskId, 300_000);
    expect(hash['status'], hash['error']).toBe('completed');
    const output = JSON.parse(hash['output']!);
    expect(output).toMatchObject({ problems_before: 2, problems_after: 0, conflicts: [] });

    const events = await new FarmStore(redis, keys, taskId).events();
    const shared = events.filter((e) => e.file === 'src/shared.js');
    // Both agents edited the shared file, and one of them was refused while the other held it.
    expect(new Set(shared.filter((e) => e.type === 'edited').map((e) => e.agent))).toEqual(new Set(['agent-1', 'agent-2']));
    const denied = shared.filter((e) => e.type === 'denied');
    expect(denied.length).toBeGreaterThan(0);
    expect(denied.every((e) => e.owner !== e.agent)).toBe(true);

    // Every edit of every file happened while its agent held that file's lock, and no two agents'
    // holds of one file overlap (lockIntervals fails on a lock taken while another agent held it).
    const intervals = lockIntervals(events);
    expect(intervals.get('src/shared.js')?.map((i) => i.agent).sort()).toEqual(['agent-1', 'agent-2']);
    for (const e of events.filter((x) => x.type === 'edit' || x.type === 'edited')) {
      const held = (intervals.get(e.file!) ?? []).find((i) => i.agent === e.agent && streamIdBefore(i.from, e.id) && streamIdBefore(e.id, i.to));
      expect(held, `${e.type} of ${e.file} by ${e.agent} at ${e.id} outside its lock`).toBeDefined();
    }

    // Both changes to the shared file are in the merged result.
    const merged = execFileSync('git', ['show', `${output.result_branch}:src/shared.js`], { cwd: repo, encoding: 'utf8' });
    expect(merged).toContain("'a-DONE'");
    expect(merged).toContain("'b-DONE'");
  }, 360_000);

  it('an agent cannot read or write outside its worktree: the hooks refuse, and the refusal is in its event stream', async () => {
    const repo = farmRepo();
    const farmDir = mkdtempSync(path.join(os.tmpdir(), 'dan-farm-wt-'));
    cleanup.push(repo, farmDir);
    const outside = path.join(os.tmpdir(), `dan-farm-outside-${Date.now()}.txt`);
    const peek: Rule[] = [
      { name: 'peek-done', when: { system: '^Domain: farm$', hasToolResult: true, anyText: 'outside your worktree[\\s\\S]*outside your worktree' }, reply: { text: '{"summary": "refused twice"}' } },
      { name: 'peek-write', when: { system: '^Domain: farm$', lastUser: 'outside your worktree' }, reply: { tool_use: [{ name: 'Write', input: { file_path: outside, content: 'x' } }] } },
      { name: 'peek-read', when: { system: '^Domain: farm$', anyText: '^Task: Peek outside', hasToolResult: false }, reply: { tool_use: [{ name: 'Read', input: { file_path: '/etc/hostname' } }] } },
    ];
    network = await startTestNetwork({ rules: farmRules(peek), env: { DAN_FARM_DIR: farmDir, DAN_FARM_ROOTS: os.tmpdir(), DAN_ELF: 'off', DAN_FARM_MAX_RESTARTS: '0' } });
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, {
      domain: 'farm', description: 'Peek outside the repository',
      context: { path: repo, agent_count: 1, problems: ['src/user.js:2: look around'] }, timeoutSeconds: 600,
    });
    const hash = await network.waitFor(taskId, 300_000);
    expect(hash['status'], hash['error']).toBe('completed');
    const store = new FarmStore(redis, keys, taskId);
    const lines = (await redis.xrange(store.keys.agentStream('agent-1'), '-', '+')).map(([, f]) => f[1] ?? '');
    expect(lines.some((l) => l.startsWith('refused:') && l.includes('/etc/hostname is outside your worktree'))).toBe(true);
    expect(lines.some((l) => l.startsWith('refused:') && l.includes(`${outside} is outside your worktree`))).toBe(true);
    expect(existsSync(outside)).toBe(false);
    expect((await store.events()).filter((e) => e.type === 'edit' || e.type === 'lock' && e.file !== 'src/user.js')).toEqual([]);
  }, 360_000);
});
