import { describe, expect, it } from 'vitest';
import { desiredAgents, domainsToSpawn, restartBackoffMs } from '../../src/main/spawn-policy.js';

const limits = { maxInstancesPerDomain: 2, maxDomainAgents: 3, domainConcurrency: 4 };
const load = (domain: string, depth: number, live = 0, starting = 0, notBefore = 0) => ({ domain, depth, live, starting, notBefore });

describe('spawn policy', () => {
  it('wants no agent for an empty queue, one for some work, more as it piles up, within the per-domain cap', () => {
    expect(desiredAgents(0, limits)).toBe(0);
    expect(desiredAgents(1, limits)).toBe(1);
    expect(desiredAgents(15, limits)).toBe(1);
    expect(desiredAgents(16, limits)).toBe(2);
    expect(desiredAgents(1000, limits)).toBe(2);
  });

  it('spawns for domains with work and no agent, not for idle or already-served ones', () => {
    expect(domainsToSpawn([load('backend', 3), load('frontend', 0), load('devops', 2, 1)], limits, 0)).toEqual(['backend']);
  });

  it('does not spawn twice while an agent is starting', () => {
    expect(domainsToSpawn([load('backend', 3, 0, 1)], limits, 0)).toEqual([]);
  });

  it('respects the total cap, serving domains with no agent first', () => {
    const picks = domainsToSpawn([load('a', 100, 1), load('b', 1), load('c', 1), load('d', 1)], limits, 0);
    expect(picks).toEqual(['b', 'c']);
  });

  it('waits out the backoff after failures', () => {
    expect(domainsToSpawn([load('backend', 3, 0, 0, 5_000)], limits, 4_999)).toEqual([]);
    expect(domainsToSpawn([load('backend', 3, 0, 0, 5_000)], limits, 5_000)).toEqual(['backend']);
  });

  it('backs off exponentially from 500 ms, capped at 30 s', () => {
    expect([0, 1, 2, 3, 4, 10].map((n) => restartBackoffMs(n))).toEqual([0, 500, 1000, 2000, 4000, 30_000]);
  });
});
