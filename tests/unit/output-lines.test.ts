import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readLines, RecentLines } from '../../lib/spawner/output-lines.js';

describe('readLines', () => {
  it('splits chunks into lines, across chunk and multi-byte boundaries, with CRLF and a last line without newline', async () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    const done = readLines(stream, (line) => lines.push(line));
    const text = Buffer.from('first\r\nsecond ü\nthird');
    stream.write(text.subarray(0, 14)); // cuts 'ü' in half
    stream.write(text.subarray(14));
    stream.end();
    await done;
    expect(lines).toEqual(['first', 'second ü', 'third']);
  });

  it('cuts a line that never ends into pieces', async () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    const done = readLines(stream, (line) => lines.push(line));
    stream.end('x'.repeat(40_000));
    await done;
    expect(lines.map((l) => l.length)).toEqual([16_384, 16_384, 40_000 - 2 * 16_384]);
  });
});

describe('RecentLines', () => {
  it('keeps the last lines of each agent up to its cap', () => {
    const recent = new RecentLines(3, () => true);
    const add = recent.start('a');
    for (const n of [1, 2, 3, 4, 5]) add(`line ${n}`);
    expect(recent.last('a')).toEqual(['line 3', 'line 4', 'line 5']);
    expect(recent.last('a', 1)).toEqual(['line 5']);
    expect(recent.last('a', 0)).toEqual([]);
    expect(recent.last('unknown')).toEqual([]);
  });

  it('forgets the oldest exited agents beyond 32, never a running one', () => {
    const running = new Set(['live']);
    const recent = new RecentLines(5, (id) => running.has(id));
    recent.start('live')('still here');
    for (let i = 0; i < 40; i++) recent.start(`gone-${i}`)(`bye ${i}`);
    expect(recent.last('live')).toEqual(['still here']);
    expect(recent.last('gone-0')).toEqual([]);
    // The 32 most recent exited agents before the last one started, and that one.
    expect(recent.last('gone-6')).toEqual([]);
    expect(recent.last('gone-7')).toEqual(['bye 7']);
    expect(recent.last('gone-39')).toEqual(['bye 39']);
  });
});
