import { describe, expect, it } from 'vitest';
import { DanError } from '../../lib/errors.js';
import { ExternalSpawner } from '../../lib/spawner/external-spawner.js';
import { TokenIssuingSpawner, type TokenIssuer } from '../../lib/spawner/token-issuing-spawner.js';

/** Tokens that are never asked for: the external spawner starts nobody to give one to. */
const noTokens: TokenIssuer = {
  issue: () => Promise.reject(new Error('no token is issued in external mode')),
  revokeAgent: () => Promise.resolve(0),
};

describe('ExternalSpawner', () => {
  it('starts nothing: a spawn is refused with how to start an agent instead', async () => {
    const spawner = new ExternalSpawner();
    const refused = await spawner.spawn({ domain: 'backend', agentId: 'backend-00000001', env: {} }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DanError);
    expect((refused as DanError).code).toBe('spawn_failed');
    expect((refused as DanError).message).toContain('AGENT_ROLE=domain DOMAIN_TYPE=backend node dist/src/agent.js');
    expect(spawner.list()).toEqual([]);
  });

  it('adopts any agent in the domain it registered for, lists it until stopped (forgotten, not killed) or closed', async () => {
    const spawner = new ExternalSpawner();
    const adopted = await spawner.adoptLate('worker-on-node-7', 'backend');
    expect(adopted).toMatchObject({ agentId: 'worker-on-node-7', domain: 'backend', handle: 'external:worker-on-node-7' });
    await spawner.adoptLate('frontend-00000002', 'frontend');
    expect(spawner.list().map((a) => a.agentId)).toEqual(['worker-on-node-7', 'frontend-00000002']);
    await spawner.stop('worker-on-node-7');
    expect(spawner.list().map((a) => a.agentId)).toEqual(['frontend-00000002']);
    await spawner.close();
    expect(spawner.list()).toEqual([]);
  });

  it('keeps saying it starts no agents behind the model gateway wrapper main puts around every spawner', async () => {
    const wrapped = new TokenIssuingSpawner(new ExternalSpawner(), { gatewayUrl: 'http://127.0.0.1:9', tokens: noTokens });
    expect(wrapped.kind).toBe('external');
    expect(wrapped.startsAgents).toBe(false);
    expect(await wrapped.adoptLate?.('backend-00000003', 'backend')).toMatchObject({ domain: 'backend' });
  });
});
