import { describe, expect, it } from 'vitest';
import { serialByKey } from '../../lib/serial-by-key.js';

describe('serialByKey', () => {
  it('runs one key\'s steps one at a time in order, other keys alongside, and goes on after a failure', async () => {
    const serial = serialByKey();
    const order: string[] = [];
    let releaseFirst: () => void = () => undefined;
    const first = serial('a', async () => {
      order.push('a1 start');
      await new Promise<void>((resolve) => (releaseFirst = resolve));
      order.push('a1 end');
      throw new Error('a1 failed');
    });
    const second = serial('a', async () => { order.push('a2'); return 2; });
    const other = serial('b', async () => { order.push('b1'); return 'b'; });
    expect(await other).toBe('b');
    // b ran while a1 was still holding key a, and a2 has not started.
    expect(order).toEqual(['a1 start', 'b1']);
    releaseFirst();
    await expect(first).rejects.toThrow('a1 failed');
    expect(await second).toBe(2);
    expect(order).toEqual(['a1 start', 'b1', 'a1 end', 'a2']);
  });
});
