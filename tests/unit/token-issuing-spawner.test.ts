import { describe, expect, it } from 'vitest';
import type { AgentExit, SpawnedAgent, SpawnRequest, Spawner } from '../../lib/spawner/spawner.js';
import { TokenIssuingSpawner, type TokenIssuer } from '../../lib/spawner/token-issuing-spawner.js';

/** A spawner that records requests and lets the test end agents as if they had exited. */
class FakeSpawner implements Spawner {
  readonly kind = 'process' as const;
  readonly requests: SpawnRequest[] = [];
  failNext = false;
  private readonly listeners: Array<(exit: AgentExit) => void> = [];
  openServices?: (env: Record<string, string>) => Promise<void>;
  async spawn(request: SpawnRequest): Promise<SpawnedAgent> {
    if (this.failNext) throw new Error('spawn failed');
    this.requests.push(request);
    return { agentId: request.agentId, domain: request.domain, handle: '1', startedAt: 0 };
  }
  async stop(): Promise<void> {}
  list(): SpawnedAgent[] { return []; }
  async lastLines(): Promise<string[]> { return []; }
  onExit(listener: (exit: AgentExit) => void): void { this.listeners.push(listener); }
  async close(): Promise<void> {}
  exit(agentId: string): void {
    for (const listener of this.listeners) listener({ agentId, domain: 'backend', code: 1, signal: null });
  }
}

/** Tokens per agent, as the Redis store keeps them. */
class FakeTokens implements TokenIssuer {
  readonly live = new Map<string, string>();
  private next = 0;
  async issue(agentId: string): Promise<{ token: string }> {
    const token = `dan-gw-${(this.next += 1)}`;
    this.live.set(agentId, token);
    return { token };
  }
  async revokeAgent(agentId: string): Promise<number> {
    return this.live.delete(agentId) ? 1 : 0;
  }
}

const request = (agentId: string): SpawnRequest => ({
  agentId, domain: 'backend',
  env: { REDIS_URL: 'redis://r', DAN_LLM: 'local', DAN_LLM_URL: 'http://model', ANTHROPIC_API_KEY: 'sk-ant-real', ANTHROPIC_AUTH_TOKEN: 'login' },
});

function setup(): { inner: FakeSpawner; tokens: FakeTokens; spawner: TokenIssuingSpawner } {
  const inner = new FakeSpawner();
  const tokens = new FakeTokens();
  return { inner, tokens, spawner: new TokenIssuingSpawner(inner, { gatewayUrl: 'http://127.0.0.1:9/gw', tokens }) };
}

describe('TokenIssuingSpawner', () => {
  it('gives each agent the gateway and a token of its own in place of any key or direct model address', async () => {
    const { inner, tokens, spawner } = setup();
    await spawner.spawn(request('backend-0000000a'));
    await spawner.spawn(request('backend-0000000b'));
    const [a, b] = inner.requests.map((r) => r.env);
    expect(a).toEqual({ REDIS_URL: 'redis://r', DAN_LLM: 'anthropic', ANTHROPIC_BASE_URL: 'http://127.0.0.1:9/gw', ANTHROPIC_API_KEY: tokens.live.get('backend-0000000a') });
    expect(b?.['ANTHROPIC_API_KEY']).toBe(tokens.live.get('backend-0000000b'));
    expect(a?.['ANTHROPIC_API_KEY']).not.toBe(b?.['ANTHROPIC_API_KEY']);
  });

  it('tells the spawner it wraps the services agents will be given, the gateway in place of a direct model address, without issuing a token', async () => {
    const { inner, tokens, spawner } = setup();
    const opened: Array<Record<string, string>> = [];
    inner.openServices = async (env) => { opened.push(env); };
    const wrapped = new TokenIssuingSpawner(inner, { gatewayUrl: 'http://127.0.0.1:9/gw', tokens });
    await wrapped.openServices?.({ REDIS_URL: 'redis://r', DAN_LLM_URL: 'http://model', ANTHROPIC_API_KEY: 'sk-ant-real' });
    expect(opened).toEqual([{ REDIS_URL: 'redis://r', DAN_LLM: 'anthropic', ANTHROPIC_BASE_URL: 'http://127.0.0.1:9/gw' }]);
    expect(tokens.live.size).toBe(0);
    // A spawner with nothing to open is not given the method.
    expect(spawner.openServices).toBeUndefined();
  });

  it('revokes an agent\'s token when it exits, when it is stopped, and every one left when it closes', async () => {
    const { inner, tokens, spawner } = setup();
    for (const id of ['backend-0000000a', 'backend-0000000b', 'backend-0000000c']) await spawner.spawn(request(id));
    inner.exit('backend-0000000a');
    await new Promise((resolve) => setImmediate(resolve));
    expect([...tokens.live.keys()]).toEqual(['backend-0000000b', 'backend-0000000c']);
    await spawner.stop('backend-0000000b');
    expect([...tokens.live.keys()]).toEqual(['backend-0000000c']);
    await spawner.close();
    expect(tokens.live.size).toBe(0);
  });

  it('revokes the token of an agent that failed to start', async () => {
    const { inner, tokens, spawner } = setup();
    inner.failNext = true;
    await expect(spawner.spawn(request('backend-0000000a'))).rejects.toThrow('spawn failed');
    expect(tokens.live.size).toBe(0);
  });
});
