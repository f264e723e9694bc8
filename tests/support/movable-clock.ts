import type { Clock } from '../../lib/clock.js';

/** A clock a test moves by hand, for decay, half-lives and daily limits. */
export class MovableClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
