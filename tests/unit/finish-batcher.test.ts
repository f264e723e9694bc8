import { describe, expect, it } from 'vitest';
import { FinishBatcher, MAX_FINISH_BATCH, type FinishEnd } from '../../lib/redis/finish-batcher.js';

function end(taskId: string): FinishEnd {
  return { taskId, token: `t-${taskId}`, status: 'completed', output: '{}', error: '', logLine: '', costCheck: '', heldLines: [] };
}

describe('FinishBatcher', () => {
  it('sends the ends of one turn in one call per domain and gives each caller its own answer', async () => {
    const calls: { domain: string; ids: string[] }[] = [];
    const batcher = new FinishBatcher(async (domain, ends) => {
      calls.push({ domain, ids: ends.map((e) => e.taskId) });
      return ends.map((e) => (e.taskId === 'b' ? 0 : e.taskId === 'c' ? 2 : e.taskId === 'e' ? new Error('WRONGTYPE') : 1));
    });
    const answers = await Promise.allSettled([
      batcher.finish('backend', end('a')), batcher.finish('backend', end('b')), batcher.finish('frontend', end('x')),
      batcher.finish('backend', end('c')), batcher.finish('backend', end('e')),
    ]);
    expect(answers.map((a) => (a.status === 'fulfilled' ? a.value : String(a.reason)))).toEqual([1, 0, 1, 2, 'Error: WRONGTYPE']);
    expect(calls).toEqual([{ domain: 'backend', ids: ['a', 'b', 'c', 'e'] }, { domain: 'frontend', ids: ['x'] }]);
    // A later turn is a call of its own.
    expect(await batcher.finish('backend', end('d'))).toBe(1);
    expect(calls).toHaveLength(3);
  });

  it(`splits a turn's ends into calls of at most ${MAX_FINISH_BATCH}`, async () => {
    const sizes: number[] = [];
    const batcher = new FinishBatcher(async (_domain, ends) => {
      sizes.push(ends.length);
      return ends.map(() => 1);
    });
    await Promise.all(Array.from({ length: MAX_FINISH_BATCH + 3 }, (_, i) => batcher.finish('backend', end(`t${i}`))));
    expect(sizes).toEqual([MAX_FINISH_BATCH, 3]);
  });

  it('rejects every caller of a call that failed, and keeps serving', async () => {
    let fail = true;
    const batcher = new FinishBatcher(async (_domain, ends) => {
      if (fail) throw new Error('connection lost');
      return ends.map(() => 1);
    });
    const results = await Promise.allSettled([batcher.finish('backend', end('a')), batcher.finish('backend', end('b'))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await batcher.finish('backend', end('c'))).toBe(1);
  });
});
