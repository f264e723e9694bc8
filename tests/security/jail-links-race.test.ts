import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { inKit, makeJailKit, OUTSIDE_SECRET, type JailKit } from './jail-kit.js';

// Rows 4 and 12 of the audit (section 1): a hard link, and a folder swapped for a symbolic link
// between the jail's check and the file's use. Both were NOT HELD at the audit.

describe('a hard link to a file outside the workspace (ATKJ04) [audit #4]', () => {
  let kit: JailKit;
  beforeEach(() => {
    kit = makeJailKit();
  });
  afterEach(() => kit.remove());

  it('cannot be made by Bash, which does not see the outside file', async () => {
    const answer = await kit.call('Bash', { command: inKit(kit, 'ln <audit-kit>/outside/secret.txt hard1 && ls -li hard1') });
    expect(answer.refused).toBe(true);
    expect(existsSync(path.join(kit.ws, 'hard1'))).toBe(false);
  });

  it('made by another actor, is refused by Read, Edit and Write, and the outside file is unchanged', async () => {
    linkSync(path.join(kit.outside, 'secret.txt'), path.join(kit.ws, 'hard1'));
    const read = await kit.call('Read', { file_path: 'hard1' });
    const edit = await kit.call('Edit', { file_path: 'hard1', old_string: 'OUTSIDE-SECRET', new_string: 'HARDLINK-EDITED' });
    const write = await kit.call('Write', { file_path: 'hard1', content: 'HARDLINK-WRITTEN' });
    for (const answer of [read, edit, write]) {
      expect(answer.refused).toBe(true);
      expect(answer.text).toContain('hard1 has 2 hard links');
      expect(answer.text).not.toContain('OUTSIDE-SECRET');
    }
    expect(readFileSync(path.join(kit.outside, 'secret.txt'), 'utf8')).toBe(OUTSIDE_SECRET);
    expect(kit.ctx.tracker.modified).toEqual([]);
    // Grep does not show it either.
    expect((await kit.call('Grep', { pattern: 'OUTSIDE-SECRET' })).text).toBe('No matches found');
    // The agent goes on: an ordinary file still reads.
    expect(await kit.call('Read', { file_path: 'inside.txt' })).toEqual({ refused: false, text: '     1\tINSIDE-CONTENT' });
  });
});

// The audit ran this standalone for 8 s and got the outside content 237 times in 29,502 reads.
// Bounded by a count, not a time: enough calls that the old resolve-then-open code leaks.
const RACE_CALLS = 6_000;

describe('a folder swapped for a symbolic link while the tools use it (ATKJ11) [audit #12]', () => {
  let kit: JailKit;
  let flipper: ChildProcess;

  beforeAll(() => {
    kit = makeJailKit();
    mkdirSync(path.join(kit.ws, 'rdir'));
    writeFileSync(path.join(kit.ws, 'rdir', 'secret.txt'), 'INSIDE-OK\n');
    // The audit's flipper, started by the test rather than by Bash (the sandbox's Bash would not outlive its call).
    const loop = inKit(kit, 'while :; do mv rdir rdir.tmp 2>/dev/null; ln -sfn <audit-kit>/outside rdir; rm -f rdir; mv rdir.tmp rdir 2>/dev/null; done');
    flipper = spawn('bash', ['-c', loop], { cwd: kit.ws, stdio: 'ignore' });
  });

  afterAll(() => {
    flipper.kill('SIGKILL');
    kit.remove();
  });

  it('never reads the outside file, in many Reads of rdir/secret.txt', async () => {
    const seen = { inside: 0, refused: 0, leaked: 0 };
    for (let i = 0; i < RACE_CALLS; i += 1) {
      const answer = await kit.call('Read', { file_path: 'rdir/secret.txt' });
      if (answer.text.includes('OUTSIDE-SECRET')) seen.leaked += 1;
      else if (answer.refused) seen.refused += 1;
      else seen.inside += 1;
    }
    expect(seen.leaked).toBe(0);
    // The race did run: some Reads found the folder in place.
    expect(seen.inside).toBeGreaterThan(0);
  });

  it('never changes the outside folder, in many Writes of rdir/secret.txt, rdir/new.txt and rdir/sub/new.txt', async () => {
    const targets = ['rdir/secret.txt', 'rdir/new.txt', 'rdir/sub/new.txt'];
    let written = 0;
    for (let i = 0; i < RACE_CALLS / 2; i += 1) {
      const answer = await kit.call('Write', { file_path: targets[i % targets.length]!, content: 'WRITTEN-INSIDE\n' });
      if (!answer.refused) written += 1;
    }
    flipper.kill('SIGKILL');
    expect(readFileSync(path.join(kit.outside, 'secret.txt'), 'utf8')).toBe(OUTSIDE_SECRET);
    expect(readdirSync(kit.outside)).toEqual(['secret.txt']);
    expect(written).toBeGreaterThan(0);
  });
});
