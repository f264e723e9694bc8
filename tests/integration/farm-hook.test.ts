import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FarmStore } from '../../lib/farm/farm-store.js';
import { Keys } from '../../lib/redis/keys.js';
import type { Redis } from '../../lib/redis/connection.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';

let redis: Redis;
let cleanup: () => Promise<void>;
let prefix: string;
let worktree: string;

beforeAll(async () => {
  prefix = uniquePrefix('farm-hook');
  ({ redis, cleanup } = await connectTestRedis(prefix));
  worktree = mkdtempSync(path.join(os.tmpdir(), 'dan-farm-hook-'));
});
afterAll(async () => {
  await cleanup();
  rmSync(worktree, { recursive: true, force: true });
});

/** Runs the built hook as the Claude Code CLI does: the tool call as JSON on stdin. */
function hook(agent: string, phase: string, toolInput: Record<string, unknown>) {
  return runProcess(process.execPath, ['dist/src/farm/farm-edit-hook.js', phase], {
    input: JSON.stringify({ hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_input: toolInput }),
    env: { PATH: process.env['PATH'], REDIS_URL: testRedisUrl(), DAN_KEY_PREFIX: prefix, DAN_FARM_ID: 'f1', DAN_FARM_AGENT: agent, DAN_FARM_WORKTREE: worktree, DAN_FARM_LOCK_MS: '30000' },
  });
}

describe('the farm edit hook (what the Claude Code CLI runs around every write)', () => {
  it('lets an agent write a free file and takes its lock; refuses another agent, naming the holder (exit 2)', async () => {
    const first = await hook('agent-1', 'before', { file_path: path.join(worktree, 'src/a.js') });
    expect(first.code, first.stderr).toBe(0);
    const store = new FarmStore(redis, new Keys(prefix), 'f1');
    expect(await store.lockedFiles('agent-1')).toEqual(['src/a.js']);

    const second = await hook('agent-2', 'before', { file_path: 'src/a.js' });
    expect(second.code).toBe(2);
    expect(second.stderr).toContain('src/a.js is locked by agent-1, another agent of this farm: wait and try again');

    await store.releaseLocks('agent-1');
    expect((await hook('agent-2', 'before', { file_path: 'src/a.js' })).code).toBe(0);
    const types = (await store.events()).map((e) => `${e.type} ${e.agent}`);
    expect(types).toEqual(['lock agent-1', 'edit agent-1', 'denied agent-2', 'unlock agent-1', 'lock agent-2', 'edit agent-2']);
  });

  it('refuses writes and reads outside the worktree', async () => {
    const write = await hook('agent-1', 'before', { file_path: '/etc/hosts' });
    expect(write.code).toBe(2);
    expect(write.stderr).toContain(`/etc/hosts is outside your worktree (${worktree})`);
    expect((await hook('agent-1', 'before', { file_path: '../escape.js' })).code).toBe(2);
    const read = await hook('agent-1', 'read', { file_path: '/etc/passwd' });
    expect(read.code).toBe(2);
    expect((await hook('agent-1', 'read', { pattern: 'x', path: worktree })).code).toBe(0);
    expect((await hook('agent-1', 'read', { file_path: path.join(worktree, 'src/a.js') })).code).toBe(0);
  });

  it('fails closed without its settings', async () => {
    const run = await runProcess(process.execPath, ['dist/src/farm/farm-edit-hook.js', 'before'], { input: '{}', env: { PATH: process.env['PATH'] } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('only runs for farm agents');
  });
});
