import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/logger.js';
import type { HeartbeatRegistry } from '../../lib/redis/heartbeat-registry.js';
import { AgentHeartbeat } from '../../lib/runtime/agent-heartbeat.js';

/** The registry as the heartbeat sees it: every beat names who beat, and nobody is ever gone. */
function fakeRegistry(beats: string[][]): HeartbeatRegistry {
  return {
    heartbeat: async (agents: { agentId: string }[]) => { beats.push(agents.map((a) => a.agentId)); return []; },
    onReconnect: () => () => undefined,
  } as unknown as HeartbeatRegistry;
}

describe('AgentHeartbeat.release', () => {
  it('deregisters an ended worker, and tries again at the next beat when Redis did not take it', async () => {
    const beats: string[][] = [];
    const heartbeat = new AgentHeartbeat(fakeRegistry(beats), 'backend-1', 60_000, silentLogger, () => undefined);
    heartbeat.add('backend-1-api-1');
    let answers = false;
    const deregistered: string[] = [];
    await heartbeat.release('backend-1-api-1', async () => {
      if (!answers) throw new Error('Connection is closed.');
      deregistered.push('backend-1-api-1');
    });
    expect(heartbeat.releasesPending).toBe(1);

    await heartbeat.beat();
    // The worker no longer beats, even while its deregistration waits.
    expect(beats.at(-1)).toEqual(['backend-1']);
    expect(heartbeat.releasesPending).toBe(1);

    answers = true;
    await heartbeat.beat();
    expect(deregistered).toEqual(['backend-1-api-1']);
    expect(heartbeat.releasesPending).toBe(0);
  });
});
