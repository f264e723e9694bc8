import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readOnlySessionArgs } from '../../src/cli/tmux-session.js';
import { until } from '../support/until.js';

// A tmux server of this test's own, on its own socket: nothing of a person's tmux is touched.
const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-tmux-'));
const socket = path.join(dir, 'socket');
const tmux = (args: string[]) => execFileSync('tmux', ['-S', socket, ...args], { encoding: 'utf8' });

afterAll(() => {
  spawnSync('tmux', ['-S', socket, 'kill-server']);
  rmSync(dir, { recursive: true, force: true });
});

describe('the read-only tmux session of dan farm attach', () => {
  it('keeps every pane, taking no input, even when each pane\'s command has ended at once (a finished farm)', async () => {
    tmux(readOnlySessionArgs('farm', process.cwd(), ['true', 'true', 'exit 3']));
    const panes = await until('every pane\'s command to end', async () => {
      const rows = tmux(['list-panes', '-t', 'farm', '-F', '#{pane_dead} #{pane_input_off} #{pane_dead_status}']).trim().split('\n');
      return rows.every((r) => r.startsWith('1 ')) ? rows : undefined;
    }, 10_000);
    expect(panes).toEqual(['1 1 0', '1 1 0', '1 1 3']);
  });
});
