import { describe, expect, it } from 'vitest';
import { keptForGroup, tokenHash, tokenHoldsTask, type GatewayToken } from '../../lib/redis/gateway-tokens.js';
import type { AgentExit, SpawnedAgent, SpawnGroup, SpawnRequest, Spawner } from '../../lib/spawner/spawner.js';
import { groupHoldings, TokenIssuingSpawner, type TokenIssuer } from '../../lib/spawner/token-issuing-spawner.js';

const SERVICE = 'dan-frontend-1a2b3c4d';
const group = { agentId: SERVICE, domains: ['frontend'] };

describe('tokenHoldsTask', () => {
  it("lets an agent's token name only the tasks that agent holds", () => {
    const agent = { agentId: 'frontend-0a1b2c3d' };
    expect(tokenHoldsTask(agent, { owner: 'frontend-0a1b2c3d', domain: 'frontend' })).toBe(true);
    expect(tokenHoldsTask(agent, { owner: 'frontend-99999999', domain: 'frontend' })).toBe(false);
    expect(tokenHoldsTask(agent, { owner: '', domain: 'frontend' })).toBe(false);
  });

  it("lets a service's token name the tasks of its domain that any replica of it holds", () => {
    expect(tokenHoldsTask(group, { owner: 'frontend-0a1b2c3d', domain: 'frontend' })).toBe(true);
    expect(tokenHoldsTask(group, { owner: 'frontend-ffffffff', domain: 'frontend' })).toBe(true);
  });

  it("refuses a service's token the tasks of another domain, whoever holds them, and tasks nobody holds", () => {
    expect(tokenHoldsTask(group, { owner: 'backend-0a1b2c3d', domain: 'backend' })).toBe(false);
    // A task of another domain, even held by an agent named like a replica of this one.
    expect(tokenHoldsTask(group, { owner: 'frontend-0a1b2c3d', domain: 'backend' })).toBe(false);
    // A domain whose name starts with this one's is another domain.
    expect(tokenHoldsTask(group, { owner: 'frontend-app-0a1b2c3d', domain: 'frontend' })).toBe(false);
    expect(tokenHoldsTask(group, { owner: 'frontend-0A1B2C3D', domain: 'frontend' })).toBe(false);
    expect(tokenHoldsTask(group, { owner: SERVICE, domain: 'frontend' })).toBe(false);
    expect(tokenHoldsTask(group, { owner: undefined, domain: 'frontend' })).toBe(false);
    expect(tokenHoldsTask(group, { owner: '', domain: 'frontend' })).toBe(false);
  });
});

describe("tokenHoldsTask with compose's standing token, a group of several domains", () => {
  const compose = { agentId: 'compose-domains', domains: ['backend', 'devops', 'frontend'] };

  it('lets it name the task of each of its domains held by an agent named after that domain, as compose names its domains', () => {
    expect(tokenHoldsTask(compose, { owner: 'backend-00000001', domain: 'backend' })).toBe(true);
    expect(tokenHoldsTask(compose, { owner: 'frontend-00000002', domain: 'frontend' })).toBe(true);
    expect(tokenHoldsTask(compose, { owner: 'devops-00000003', domain: 'devops' })).toBe(true);
  });

  it('refuses it a task of a domain not its own, a task held by an agent named after another of its domains, and a task with no domain', () => {
    expect(tokenHoldsTask(compose, { owner: 'elf-00000004', domain: 'elf' })).toBe(false);
    expect(tokenHoldsTask(compose, { owner: 'frontend-00000002', domain: 'backend' })).toBe(false);
    expect(tokenHoldsTask(compose, { owner: 'compose-domains', domain: 'backend' })).toBe(false);
    expect(tokenHoldsTask(compose, { owner: 'backend-00000001', domain: undefined })).toBe(false);
    // A token of no domains (a catalog without any) names no task.
    expect(tokenHoldsTask({ agentId: 'compose-domains', domains: [] }, { owner: 'backend-00000001', domain: 'backend' })).toBe(false);
  });
});

describe('which token an adopted service keeps', () => {
  const token = 'dan-gw-the-service-token';
  const holding = groupHoldings([{ id: SERVICE, domain: 'frontend', env: { ANTHROPIC_API_KEY: token, REDIS_URL: 'redis://r' } }]);
  const record = (over: Partial<GatewayToken>): GatewayToken => ({ id: 'x', agentId: SERVICE, issuedAt: 0, standing: false, domains: ['frontend'], ...over });

  it("reads the hash of the gateway token in the service's spec, and none from a spec without one", () => {
    expect(holding).toEqual([{ id: SERVICE, domain: 'frontend', tokenHash: tokenHash(token) }]);
    expect(groupHoldings([{ id: SERVICE, domain: 'frontend', env: { ANTHROPIC_API_KEY: 'sk-ant-a-real-key' } }])[0]?.tokenHash).toBeUndefined();
    expect(groupHoldings([{ id: SERVICE, domain: 'frontend', env: {} }])[0]?.tokenHash).toBeUndefined();
  });

  it('keeps the token its spec holds when it was issued to that service', () => {
    expect(keptForGroup(tokenHash(token), record({}), holding)).toBe(true);
  });

  it("keeps no other: another token of the service, the spec's token issued to an agent or another service, or any token with no service", () => {
    expect(keptForGroup(tokenHash('dan-gw-lost-a-race'), record({}), holding)).toBe(false);
    expect(keptForGroup(tokenHash(token), record({ agentId: 'frontend-0a1b2c3d', domains: undefined }), holding)).toBe(false);
    expect(keptForGroup(tokenHash(token), record({ agentId: 'dan-backend-1a2b3c4d', domains: ['backend'] }), holding)).toBe(false);
    expect(keptForGroup(tokenHash(token), record({ domains: ['backend'] }), holding)).toBe(false);
    // A token of several domains (compose's standing one) is no service's, even one of its domains.
    expect(keptForGroup(tokenHash(token), record({ domains: ['frontend', 'backend'] }), holding)).toBe(false);
    expect(keptForGroup(tokenHash(token), record({}), [])).toBe(false);
  });
});

/** A spawner whose agents of a domain share one spec, as Swarm's service: created on the first spawn. */
class GroupedSpawner implements Spawner {
  readonly kind = 'swarm' as const;
  readonly requests: SpawnRequest[] = [];
  readonly services = new Map<string, SpawnGroup>();
  failCreate = false;
  private next = 0;
  groupOf(domain: string): string {
    return `dan-${domain}-1a2b3c4d`;
  }
  groups(): SpawnGroup[] {
    return [...this.services.values()];
  }
  async spawn(request: SpawnRequest): Promise<SpawnedAgent> {
    this.requests.push(request);
    // A moment for a second spawn to come in while the first creates the service.
    await new Promise((resolve) => setImmediate(resolve));
    const id = this.groupOf(request.domain);
    if (!this.services.has(id)) {
      if (this.failCreate) throw new Error('cannot create the service');
      this.services.set(id, { id, domain: request.domain, env: request.env });
    }
    return { agentId: `${request.domain}-${String(this.next += 1).padStart(8, '0')}`, domain: request.domain, handle: 'c', startedAt: 0 };
  }
  async stop(): Promise<void> {}
  list(): SpawnedAgent[] { return []; }
  async lastLines(): Promise<string[]> { return []; }
  onExit(_listener: (exit: AgentExit) => void): void {}
  async close(): Promise<void> { this.services.clear(); }
}

/** Tokens as the Redis store keeps them: who each was issued to, and for which group domain. */
class GroupTokens implements TokenIssuer {
  readonly live = new Map<string, { agentId: string; domain: string | undefined }>();
  private next = 0;
  async issue(agentId: string, groupDomain?: string): Promise<{ token: string }> {
    const token = `dan-gw-${(this.next += 1)}`;
    this.live.set(token, { agentId, domain: groupDomain });
    return { token };
  }
  async revokeAgent(agentId: string): Promise<number> {
    const mine = [...this.live].filter(([, r]) => r.agentId === agentId).map(([t]) => t);
    for (const token of mine) this.live.delete(token);
    return mine.length;
  }
}

function grouped(): { inner: GroupedSpawner; tokens: GroupTokens; spawner: TokenIssuingSpawner } {
  const inner = new GroupedSpawner();
  const tokens = new GroupTokens();
  return { inner, tokens, spawner: new TokenIssuingSpawner(inner, { gatewayUrl: 'http://gw', tokens }) };
}

const spawnOf = (agentId: string, domain = 'frontend'): SpawnRequest => ({ agentId, domain, env: { REDIS_URL: 'redis://r', ANTHROPIC_API_KEY: 'sk-ant-real' } });

describe('TokenIssuingSpawner with a spawner of groups', () => {
  it("issues one token to the service, not to the spawn's agent id, and none for the spawns that join it, even at once", async () => {
    const { inner, tokens, spawner } = grouped();
    await Promise.all([spawner.spawn(spawnOf('frontend-aaaaaaaa')), spawner.spawn(spawnOf('frontend-bbbbbbbb'))]);
    await spawner.spawn(spawnOf('frontend-cccccccc'));
    expect([...tokens.live.values()]).toEqual([{ agentId: SERVICE, domain: 'frontend' }]);
    const [token] = [...tokens.live.keys()];
    expect(inner.services.get(SERVICE)?.env['ANTHROPIC_API_KEY']).toBe(token);
    // The later spawns carry no token (and no key): the service's spec already has one.
    expect(inner.requests.slice(1).map((r) => r.env['ANTHROPIC_API_KEY'])).toEqual([undefined, undefined]);
  });

  it('revokes the token when the service could not be created, and keeps it when it was', async () => {
    const { inner, tokens, spawner } = grouped();
    inner.failCreate = true;
    await expect(spawner.spawn(spawnOf('frontend-aaaaaaaa'))).rejects.toThrow('cannot create the service');
    expect(tokens.live.size).toBe(0);
    inner.failCreate = false;
    await spawner.spawn(spawnOf('frontend-bbbbbbbb'));
    expect(tokens.live.size).toBe(1);
  });

  it('reuses the token of a service it adopted, and revokes it when it closes, with the tokens it issued', async () => {
    const { inner, tokens, spawner } = grouped();
    const adopted = await tokens.issue(SERVICE, 'frontend');
    inner.services.set(SERVICE, { id: SERVICE, domain: 'frontend', env: { ANTHROPIC_API_KEY: adopted.token } });
    await spawner.spawn(spawnOf('frontend-aaaaaaaa'));
    await spawner.spawn(spawnOf('backend-aaaaaaaa', 'backend'));
    expect([...tokens.live.values()].map((r) => r.agentId)).toEqual([SERVICE, 'dan-backend-1a2b3c4d']);
    await spawner.close();
    expect(tokens.live.size).toBe(0);
  });
});
