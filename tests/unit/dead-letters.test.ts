import { describe, expect, it } from 'vitest';
import { DanError } from '../../lib/errors.js';
import type { DeadLetter } from '../../lib/redis/dead-letters.js';
import { checkTask, matchRef, newestFirst, parseDeadLetter } from '../../lib/redis/dead-letters.js';
import { parseAge, preview } from '../../src/cli/commands/dead-letter.js';

const envelope = (fields: Record<string, unknown>): string => JSON.stringify({ reason: 'r', raw: '{}', domain: 'backend', ...fields });

describe('parseDeadLetter', () => {
  it('reads an envelope with an id', () => {
    const e = parseDeadLetter(envelope({ id: 'a1b2c3d4e5f60718', raw: 'oops', reason: 'task JSON must be an object', dead_lettered_at: '2026-01-01T00:00:00.000Z' }), 'backend', 4);
    expect(e).toMatchObject({ ref: 'a1b2c3d4e5f60718', id: 'a1b2c3d4e5f60718', domain: 'backend', index: 4, raw: 'oops', reason: 'task JSON must be an object', deadLetteredAt: '2026-01-01T00:00:00.000Z', envelope: true });
    expect(e.taskId).toBeUndefined();
  });

  it('names an older envelope without an id by {domain}:{index}, and finds the task id in its broken raw', () => {
    const e = parseDeadLetter(envelope({ raw: '{"task_id": "t-9", "payload": ' }), 'frontend', 0);
    expect(e).toMatchObject({ ref: 'frontend:0', taskId: 't-9', envelope: true });
    expect(e.id).toBeUndefined();
  });

  it('prefers the envelope task_id, and says unknown when the reason is missing', () => {
    const e = parseDeadLetter(JSON.stringify({ raw: '{"task_id": "inner"}', task_id: 'outer' }), 'backend', 1);
    expect(e).toMatchObject({ taskId: 'outer', reason: 'unknown' });
  });

  it('keeps anything that is not an envelope as it is, with reason unknown', () => {
    for (const item of ['plain text', '[1,2]', 'null', '{"task_id": "x", "payload": {}}', '{"raw": 5}', '']) {
      const e = parseDeadLetter(item, 'backend', 2);
      expect(e).toMatchObject({ ref: 'backend:2', raw: item, reason: 'unknown', envelope: false });
    }
    expect(parseDeadLetter('{"task_id": "x"}', 'backend', 2).taskId).toBe('x');
  });

  it('keeps the bytes of an item that is not UTF-8, for removal by exact match', () => {
    const bytes = Buffer.from([0x67, 0xff, 0x00, 0x41]);
    const e = parseDeadLetter(bytes, 'backend', 0);
    expect(e.item.equals(bytes)).toBe(true);
    expect(e.envelope).toBe(false);
  });
});

describe('checkTask', () => {
  it('accepts a JSON object and returns its task id', () => {
    expect(checkTask('{"task_id": "t-1", "payload": {}}')).toEqual({ ok: true, taskId: 't-1' });
    expect(checkTask('  {}  ')).toEqual({ ok: true });
    expect(checkTask('{"task_id": 7}')).toEqual({ ok: true });
  });

  it('says why other input cannot be a task', () => {
    expect(checkTask('nope')).toMatchObject({ ok: false, why: expect.stringMatching(/^it is not JSON/) });
    expect(checkTask('[1]')).toEqual({ ok: false, why: 'it is JSON but not an object (an array)' });
    expect(checkTask('null')).toEqual({ ok: false, why: 'it is JSON but not an object (null)' });
    expect(checkTask('"text"')).toEqual({ ok: false, why: 'it is JSON but not an object (a string)' });
  });
});

describe('matchRef', () => {
  const a = parseDeadLetter(envelope({ id: 'aaaaaaaaaaaaaaaa', task_id: 'twice' }), 'backend', 2);
  const b = parseDeadLetter(envelope({ task_id: 'twice' }), 'backend', 1);
  const c = parseDeadLetter(envelope({ id: 'cccccccccccccccc', task_id: 'once' }), 'ops:eu', 0);
  const all = [a, b, c];

  it('matches an id first, then a task id, then {domain}:{index}', () => {
    expect(matchRef(all, 'aaaaaaaaaaaaaaaa')).toEqual([a]);
    expect(matchRef(all, 'once')).toEqual([c]);
    expect(matchRef(all, 'backend:1')).toEqual([b]);
    expect(matchRef(all, 'ops:eu:0')).toEqual([c]);
  });

  it('returns every entry of a task dead-lettered twice, and none for an unknown ref', () => {
    expect(matchRef(all, 'twice')).toEqual([a, b]);
    expect(matchRef(all, 'backend:9')).toEqual([]);
    expect(matchRef(all, 'nothing')).toEqual([]);
  });
});

describe('newestFirst', () => {
  const at = (domain: string, index: number, time?: string): DeadLetter =>
    parseDeadLetter(time === undefined ? `junk ${index}` : envelope({ dead_lettered_at: time }), domain, index);

  it('merges lists by time, newest first, and keeps undated entries next to their older neighbour', () => {
    // Lists come head first: the newest item at index length - 1.
    const backend = [at('backend', 2, '2026-01-01T00:03:00.000Z'), at('backend', 1), at('backend', 0, '2026-01-01T00:01:00.000Z')];
    const nosuch = [at('nosuch', 0, '2026-01-01T00:02:00.000Z')];
    expect(newestFirst([backend, nosuch]).map((e) => `${e.domain}:${e.index}`)).toEqual(['backend:2', 'nosuch:0', 'backend:1', 'backend:0']);
  });
});

describe('parseAge and preview', () => {
  it('reads ages with a unit', () => {
    expect(parseAge('7d')).toBe(7 * 86_400_000);
    expect(parseAge('12h')).toBe(12 * 3_600_000);
    expect(parseAge('30m')).toBe(1_800_000);
    expect(parseAge('1.5s')).toBe(1_500);
    expect(parseAge('2w')).toBe(14 * 86_400_000);
    for (const bad of ['7', 'd', '7 days', '-1d', '']) expect(() => parseAge(bad)).toThrow(DanError);
  });

  it('previews raw input on one line, control bytes shown, long input cut', () => {
    expect(preview('{\n  "a": 1\n}')).toBe('{ "a": 1 }');
    expect(preview('a\u0001b')).toBe('a\\x01b');
    const long = preview('x'.repeat(500), 40);
    expect(long).toHaveLength(40);
    expect(long.endsWith('…')).toBe(true);
  });
});
