import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IDLE_COLLECT_DELAY_MS, IdleCollector, exposedGc } from '../../lib/runtime/idle-collector.js';

describe('IdleCollector', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('collects twice once the agent has stayed idle for the delay, and once per idle spell', () => {
    const collect = vi.fn();
    const collector = new IdleCollector(collect);
    collector.idle();
    collector.idle();
    vi.advanceTimersByTime(IDLE_COLLECT_DELAY_MS - 1);
    expect(collect).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(collect).toHaveBeenCalledTimes(2);
    vi.advanceTimersByTime(IDLE_COLLECT_DELAY_MS * 10);
    expect(collect).toHaveBeenCalledTimes(2);
  });

  it('does not collect when work arrives first, and starts over on the next idle spell', () => {
    const collect = vi.fn();
    const collector = new IdleCollector(collect, 500);
    collector.idle();
    vi.advanceTimersByTime(400);
    collector.busy();
    vi.advanceTimersByTime(1_000);
    expect(collect).not.toHaveBeenCalled();
    collector.idle();
    vi.advanceTimersByTime(500);
    expect(collect).toHaveBeenCalledTimes(2);
  });

  it('does nothing without a gc to call', () => {
    const collector = new IdleCollector(undefined);
    collector.idle();
    expect(vi.getTimerCount()).toBe(0);
    collector.busy();
  });

  it('finds the global gc only where Node exposes it', () => {
    const global = globalThis as { gc?: () => void };
    const before = global.gc;
    try {
      const gc = () => undefined;
      global.gc = gc;
      expect(exposedGc()).toBe(gc);
      delete global.gc;
      expect(exposedGc()).toBeUndefined();
    } finally {
      if (before) global.gc = before;
    }
  });
});
