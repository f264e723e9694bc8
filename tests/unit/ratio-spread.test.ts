import { describe, expect, it } from 'vitest';
import { ratioSpread } from '../../src/bench/bench-kit.js';

describe('ratioSpread', () => {
  it('gives the median of the rounds with the lowest and highest, whatever their order', () => {
    expect(ratioSpread([1.3, 0.5, 2.3, 1.1, 0.9])).toEqual({ median: 1.1, min: 0.5, max: 2.3 });
  });

  it('takes the mean of the middle two for an even count, and one round as all three', () => {
    expect(ratioSpread([0.4, 0.8, 0.6, 1])).toEqual({ median: 0.7, min: 0.4, max: 1 });
    expect(ratioSpread([0.95])).toEqual({ median: 0.95, min: 0.95, max: 0.95 });
  });
});
