import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { GATEWAY_TOKEN_PREFIX, tokenHash, type GroupHolding } from '../redis/gateway-tokens.js';
import type { AgentExit, SpawnedAgent, SpawnGroup, SpawnRequest, Spawner } from './spawner.js';

/** The part of the gateway's token store a spawner uses. */
export interface TokenIssuer {
  /** With `groupDomain`: a token for the spawn group `agentId` names, shared by its agents of that domain. */
  issue(agentId: string, groupDomain?: string): Promise<{ token: string }>;
  revokeAgent(agentId: string): Promise<number>;
}

export interface TokenIssuingSpawnerOptions {
  /** The URL agents reach the model gateway at. */
  gatewayUrl: string;
  tokens: TokenIssuer;
  logger?: Logger;
}

/**
 * Model settings that must never reach an agent from the spawner's own environment: the key (or a
 * login) the gateway alone holds, and the direct address of a model server that skips the gateway.
 */
export const MODEL_SECRETS = ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN'] as const;

/**
 * What the running groups of a spawner hold: the hash of the gateway token in each one's spec, which
 * is the token its adopted agents keep using (the spec cannot be changed under them).
 */
export function groupHoldings(groups: readonly SpawnGroup[]): GroupHolding[] {
  return groups.map(({ id, domain, env }) => {
    const token = env['ANTHROPIC_API_KEY'];
    return { id, domain, tokenHash: token?.startsWith(GATEWAY_TOKEN_PREFIX) ? tokenHash(token) : undefined };
  });
}

/**
 * Wraps a spawner so that every agent it starts calls the model through the gateway: the agent gets
 * `ANTHROPIC_BASE_URL=<gateway>` and `ANTHROPIC_API_KEY=<a token issued for it alone>`, never the key,
 * and its token is revoked when it is stopped (released, swept), when it exits, and when the spawner
 * closes with the network. The Claude Code CLI reads the same two variables, so it goes through too.
 * A spawner whose agents of a domain share one spec (Swarm's service, `groupOf`) gets one token per
 * group instead, issued to the group when it is created and revoked when it is removed (at close): its
 * agents name themselves, so no agent id is known when the token is written into the spec.
 */
export class TokenIssuingSpawner implements Spawner {
  readonly kind: Spawner['kind'];
  readonly startsAgents?: false;
  private readonly logger: Logger;
  /** Agents this spawner issued a token to and has not yet revoked. */
  private readonly issued = new Set<string>();
  /** Spawns creating a group: a second spawn for it waits, and then joins it rather than issuing a token of its own. */
  private readonly creating = new Map<string, Promise<unknown>>();

  constructor(private readonly inner: Spawner, private readonly options: TokenIssuingSpawnerOptions) {
    this.kind = inner.kind;
    if (inner.startsAgents === false) this.startsAgents = false;
    this.logger = options.logger ?? silentLogger;
    inner.onExit((exit) => void this.revoke(exit.agentId));
    if (inner.adopt) this.adopt = () => inner.adopt?.() ?? [];
    if (inner.adoptLate) this.adoptLate = (agentId, domain) => inner.adoptLate?.(agentId, domain) ?? Promise.resolve(undefined);
    if (inner.groupOf) this.groupOf = (domain) => inner.groupOf?.(domain) ?? domain;
    if (inner.groups) this.groups = () => inner.groups?.() ?? [];
    if (inner.openServices) this.openServices = (env) => inner.openServices?.(this.modelEnv(env, undefined)) ?? Promise.resolve();
  }

  adopt?: () => SpawnedAgent[];
  adoptLate?: (agentId: string, domain: string) => Promise<SpawnedAgent | undefined>;
  openServices?: (env: Record<string, string>) => Promise<void>;
  groupOf?: (domain: string) => string;
  groups?: () => SpawnGroup[];

  async spawn(request: SpawnRequest): Promise<SpawnedAgent> {
    const group = this.inner.groupOf?.(request.domain);
    if (group !== undefined) return this.spawnInGroup(group, request);
    const { token } = await this.options.tokens.issue(request.agentId);
    this.issued.add(request.agentId);
    const env = this.modelEnv(request.env, token);
    try {
      return await this.inner.spawn({ ...request, env });
    } catch (error) {
      await this.revoke(request.agentId);
      throw error;
    }
  }

  /**
   * A spawn into a group: one that exists (created, or adopted with the token its spec holds) is given
   * no token; one that does not is created with a token issued to it, revoked at once if the group
   * was not created after all.
   */
  private async spawnInGroup(group: string, request: SpawnRequest): Promise<SpawnedAgent> {
    // Checked before any await, so a spawn that finds none pending goes on to register its own at once.
    for (let pending = this.creating.get(group); pending; pending = this.creating.get(group)) await pending.catch(() => undefined);
    if (this.inner.groups?.().some((g) => g.id === group)) return this.inner.spawn({ ...request, env: this.modelEnv(request.env, undefined) });
    const created = (async () => {
      const { token } = await this.options.tokens.issue(group, request.domain);
      this.issued.add(group);
      try {
        return await this.inner.spawn({ ...request, env: this.modelEnv(request.env, token) });
      } catch (error) {
        if (!this.inner.groups?.().some((g) => g.id === group)) await this.revoke(group);
        throw error;
      }
    })();
    this.creating.set(group, created);
    try {
      return await created;
    } finally {
      if (this.creating.get(group) === created) this.creating.delete(group);
    }
  }

  async stop(agentId: string, graceMs?: number): Promise<void> {
    try {
      await this.inner.stop(agentId, graceMs);
    } finally {
      await this.revoke(agentId);
    }
  }

  list(): SpawnedAgent[] {
    return this.inner.list();
  }

  lastLines(agentId: string, count?: number): Promise<string[]> {
    return this.inner.lastLines(agentId, count);
  }

  onExit(listener: (exit: AgentExit) => void): void {
    this.inner.onExit(listener);
  }

  /**
   * Stops every agent, then revokes every token this spawner issued and those of the groups it adopted
   * (their services removed with it): a stopped network's tokens open nothing.
   */
  async close(graceMs?: number): Promise<void> {
    const groups = this.inner.groups?.().map((g) => g.id) ?? [];
    try {
      await this.inner.close(graceMs);
    } finally {
      await Promise.all([...new Set([...this.issued, ...groups])].map((agentId) => this.revoke(agentId)));
    }
  }

  /** `env` with the gateway as the model and `token` (when issued) as the key, and none of the spawner's own model settings. */
  private modelEnv(given: Record<string, string>, token: string | undefined): Record<string, string> {
    const env: Record<string, string> = { ...given };
    for (const name of [...MODEL_SECRETS, 'DAN_LLM_URL']) delete env[name];
    Object.assign(env, { DAN_LLM: 'anthropic', ANTHROPIC_BASE_URL: this.options.gatewayUrl });
    if (token) env['ANTHROPIC_API_KEY'] = token;
    return env;
  }

  private async revoke(agentId: string): Promise<void> {
    this.issued.delete(agentId);
    try {
      const revoked = await this.options.tokens.revokeAgent(agentId);
      if (revoked > 0) this.logger.debug({ agentId, revoked }, 'model gateway token revoked');
    } catch (error) {
      this.logger.warn({ err: error, agentId }, "could not revoke the agent's model gateway token; it stays live until 'dan gateway --revoke <agent>' is run");
    }
  }
}
