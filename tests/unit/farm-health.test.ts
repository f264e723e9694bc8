import { describe, expect, it } from 'vitest';
import type { HealthPolicy } from '../../lib/farm/farm-health.js';
import { isStuck, nextStep, restartDelayMs } from '../../lib/farm/farm-health.js';
import { parseFarmRequest } from '../../lib/farm/farm-request.js';

const policy: HealthPolicy = { stuckMs: 300_000, restartBaseMs: 10_000, restartMaxMs: 300_000, maxRestarts: 3, contextTokens: 160_000 };

describe('farm agent health', () => {
  it('backs off min(300 s, 10 s * 2^n)', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 10].map((n) => restartDelayMs(n, policy))).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
  });

  it('restarts a crashed or stuck agent up to the cap, then gives its chunk back', () => {
    expect(nextStep('crashed', 0, 0, policy)).toEqual({ kind: 'restart', delayMs: 10_000 });
    expect(nextStep('stuck', 2, 0, policy)).toEqual({ kind: 'restart', delayMs: 40_000 });
    expect(nextStep('crashed', 3, 0, policy)).toEqual({ kind: 'give_back', reason: 'crashed after 3 restart(s)' });
  });

  it('renews a full context without counting a restart, a bounded number of times', () => {
    expect(nextStep('context_full', 0, 0, policy)).toEqual({ kind: 'renew' });
    expect(nextStep('context_full', 0, 2, policy)).toEqual({ kind: 'renew' });
    expect(nextStep('context_full', 0, 3, policy)).toEqual({ kind: 'restart', delayMs: 10_000 });
  });

  it('is done when finished and stops when the farm stops', () => {
    expect(nextStep('finished', 3, 3, policy)).toEqual({ kind: 'done' });
    expect(nextStep('stopped', 0, 0, policy)).toEqual({ kind: 'stop' });
  });

  it('calls an agent stuck only after the configured silence', () => {
    expect(isStuck(1_000, 1_000 + 300_000, 300_000)).toBe(false);
    expect(isStuck(1_000, 1_000 + 300_001, 300_000)).toBe(true);
    expect(isStuck(0, 10 ** 12, 0)).toBe(false);
  });
});

describe('farm requests', () => {
  const defaults = { agentCount: 3, maxAgents: 8, runtime: 'claude-code' as const, workspace: '/work' };

  it('reads a request, resolving the path against the workspace', () => {
    const parsed = parseFarmRequest({ path: 'my-app', problems_command: 'npm run lint', agent_count: 4 }, defaults);
    expect(parsed).toEqual({ ok: true, request: { path: '/work/my-app', agentCount: 4, problemsCommand: 'npm run lint', problemsList: undefined, runtime: 'claude-code', filesPerChunk: 1 } });
  });

  it('lists every problem at once, each with its fix', () => {
    const parsed = parseFarmRequest({ path: '/x', agent_count: 20, claude_path: '/tmp/evil' }, defaults);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems).toEqual([
      "context.claude_path is not accepted: the program an agent runs is set on the farm's host (DAN_CLAUDE_PATH), never by a task",
      'context.agent_count is 20, more than the cap of 8: ask for fewer agents, or raise DAN_FARM_MAX_AGENTS',
    ]);
  });

  it('needs a path and a known runtime', () => {
    const parsed = parseFarmRequest({ runtime: 'vim' }, defaults);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems.join('\n')).toContain('context.path is required');
    expect(parsed.problems.join('\n')).toContain('context.runtime must be one of claude-code, sdk');
  });
});
