import { describe, expect, it } from 'vitest';
import { decodePositions, encodePositions } from '../../src/api/log-routes.js';

describe('log stream event ids', () => {
  it("name the lines sent of the job's own list and of each sub-task's, and read back to the same positions", () => {
    const positions = new Map([['t1', 12], ['t1-web', 1], ['t1-backend', 3], ['t1-devops', 0]]);
    const id = encodePositions('t1', positions);
    expect(id).toBe('12,backend=3,web=1');
    expect(decodePositions('t1', id)).toEqual(new Map([['t1', 12], ['t1-backend', 3], ['t1-web', 1]]));
    expect(encodePositions('t1', new Map())).toBe('0');
  });

  it('start from nothing without an id, and refuse one the stream never sends', () => {
    expect(decodePositions('t1', undefined)).toEqual(new Map());
    expect(decodePositions('t1', '')).toEqual(new Map());
    for (const bad of ['x', '-1', '1,backend', '1,=2', '1;2', '1,a b=2', '1.5']) {
      expect(() => decodePositions('t1', bad), bad).toThrow(/Last-Event-ID .* is not an id this stream sends/);
    }
  });
});
