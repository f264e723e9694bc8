import type { Redis } from 'ioredis';
import { HashedTokenTable, newSecret, tokenHash, tokenId } from './hashed-tokens.js';
import type { Keys } from './keys.js';
import { isSafeDomainName } from '../protocol/agent.js';

export { tokenHash } from './hashed-tokens.js';

/** What the model gateway knows of one live token: never the token itself. */
export interface GatewayToken {
  /** The first 12 hex of the token's hash: names it in listings and logs without revealing it. */
  id: string;
  agentId: string;
  issuedAt: number;
  /** Set by a person for agents main does not spawn (compose's always-on domains), not issued per agent. */
  standing: boolean;
  /**
   * Set for a token shared by a group of agents rather than issued to one: the domains whose agents
   * share it (see `tokenHoldsTask`). A Swarm service's (named by `agentId`) has its one domain; the
   * standing token of the domains main does not spawn has every domain of main's catalog.
   */
  domains?: readonly string[];
}

/**
 * Whether a call made with `token` may name `task` (its lease holder `owner`, its `domain`): an agent's token
 * only its own tasks; a group's token (a Swarm service's, shared by replicas that name themselves
 * `{domain}-{8 hex}` after their containers; the standing one of compose's always-on domains, named
 * `{domain}-0000000N`) the tasks of its domains held by an agent named that way. The domains are main's
 * record of the token, which no agent can change: an agent of the group can spend from its domains'
 * tasks and from no other's.
 */
export function tokenHoldsTask(token: Pick<GatewayToken, 'agentId' | 'domains'>, task: { owner?: string | undefined; domain?: string | undefined }): boolean {
  const { owner, domain } = task;
  if (owner === undefined || owner === '') return false;
  if (token.domains === undefined) return owner === token.agentId;
  if (domain === undefined || !token.domains.includes(domain) || !owner.startsWith(`${domain}-`)) return false;
  return /^[0-9a-f]{8}$/.test(owner.slice(domain.length + 1));
}

/** A spawn group still running (a Swarm service), and the hash of the gateway token its spec gives its agents. */
export interface GroupHolding {
  id: string;
  domain: string;
  tokenHash: string | undefined;
}

/**
 * Whether a token stays though no heartbeat carries its agent id: it is the one a running group's spec
 * holds, and was issued to that group. Any other token of the group (one issued for a spawn that
 * lost a race to create the service, or a service's from before group tokens) is an orphan.
 */
export function keptForGroup(hash: string, record: GatewayToken, groups: readonly GroupHolding[]): boolean {
  // A service's token has its one domain; one of several domains is no service's.
  const [domain, ...more] = record.domains ?? [];
  return domain !== undefined && more.length === 0 && groups.some((g) => g.tokenHash === hash && g.id === record.agentId && g.domain === domain);
}

/** Where the model gateway asks whether a token is live; Redis in a network, a map in unit tests. */
export interface TokenCheck {
  /** The token's record, or undefined when it was never issued or has been revoked. */
  check(token: string): Promise<GatewayToken | undefined>;
}

/** Tokens start with this, so a person (and the log scrubber) can tell one from an API key. */
export const GATEWAY_TOKEN_PREFIX = 'dan-gw-';

/** A new token: 32 random bytes, 256 bits no caller can guess. */
export function newGatewayToken(): string {
  return newSecret(GATEWAY_TOKEN_PREFIX);
}

/**
 * The model gateway's tokens in Redis (`dan:gateway:tokens`, one hash field per token hash), so a
 * gateway in another process could check them too. Issued per agent when it is spawned; revoked when
 * it is stopped, exits or is swept, and all at once when the network stops.
 */
export class GatewayTokens implements TokenCheck {
  private readonly table: HashedTokenTable<GatewayToken>;

  constructor(private readonly redis: Redis, private readonly keys: Keys, private readonly clock: () => number = Date.now) {
    this.table = new HashedTokenTable(redis, keys.gatewayTokens(), parseRecord);
  }

  /**
   * Issues a token for `agentId`; the caller hands it to that agent only. With `groupDomain`, `agentId`
   * names a spawn group (a Swarm service) whose agents of that domain all get the token.
   */
  async issue(agentId: string, groupDomain?: string): Promise<{ token: string; record: GatewayToken }> {
    const issuedAt = this.clock();
    const group = groupDomain === undefined ? {} : { domains: [groupDomain] };
    const { token, hash } = await this.table.issue(GATEWAY_TOKEN_PREFIX, { agentId, issuedAt, ...group });
    return { token, record: { id: tokenId(hash), agentId, issuedAt, standing: false, ...group } };
  }

  async check(token: string): Promise<GatewayToken | undefined> {
    return this.table.check(token);
  }

  /**
   * Registers a standing token under `agentId`: one a person chose (compose's DAN_GATEWAY_COMPOSE_TOKEN)
   * for agents main does not spawn, registered each time a main starts, as the token of the group of
   * those agents in `domains` (`tokenHoldsTask`). Resolves with 'revoked' instead when it was revoked
   * with `dan gateway --revoke`: a leaked one stays dead until a new one is set.
   */
  async registerStanding(agentId: string, token: string, domains: readonly string[]): Promise<GatewayToken | 'revoked'> {
    const hash = tokenHash(token);
    if (await this.redis.sismember(this.keys.gatewayRevoked(), hash) === 1) return 'revoked';
    const issuedAt = this.clock();
    await this.table.put(hash, { agentId, issuedAt, standing: true, domains });
    return { id: tokenId(hash), agentId, issuedAt, standing: true, domains };
  }

  /** Takes a standing token out when its main stops, without revoking it: the next main registers it again. */
  async withdrawStanding(token: string): Promise<void> {
    await this.table.remove(tokenHash(token));
  }

  /**
   * Revokes every token of `agentId`; resolves with how many there were. A standing token's hash is
   * also kept as revoked, in the same transaction, so no main registers it again.
   */
  async revokeAgent(agentId: string): Promise<number> {
    const matching = (await this.entries()).filter(([, record]) => record.agentId === agentId);
    if (matching.length === 0) return 0;
    const standing = matching.filter(([, record]) => record.standing).map(([hash]) => hash);
    const tx = this.redis.multi().hdel(this.keys.gatewayTokens(), ...matching.map(([hash]) => hash));
    if (standing.length > 0) tx.sadd(this.keys.gatewayRevoked(), ...standing);
    const replies = await tx.exec();
    const [error, removed] = replies?.[0] ?? [new Error('the revoking transaction was discarded: run dan gateway --revoke again'), 0];
    if (error) throw error;
    return Number(removed);
  }

  /**
   * Revokes the tokens of agents with no heartbeat: ones a previous main issued and could not revoke
   * (it crashed, or Redis was away when it stopped), whose agents are gone. Run when a main starts;
   * agents it adopts still beat, so their tokens stay, and standing tokens belong to no one agent's
   * heartbeat. A spawn group has no heartbeat of its own: the token a running one holds (`groups`, the
   * Swarm services main adopts, whose replicas keep it in their spec) stays too (`keptForGroup`).
   * Resolves with how many were revoked.
   */
  async revokeOrphans(groups: readonly GroupHolding[] = []): Promise<number> {
    const entries = (await this.entries()).filter(([hash, record]) => !record.standing && !keptForGroup(hash, record, groups));
    const beating = await Promise.all(entries.map(([, r]) => this.redis.exists(this.keys.heartbeat(r.agentId))));
    const orphans = entries.filter((_, i) => beating[i] === 0).map(([hash]) => hash);
    return this.table.remove(...orphans);
  }

  /** Live tokens, oldest first, for `dan gateway` and for revoking all of a network's at its stop. */
  async list(): Promise<GatewayToken[]> {
    return (await this.entries()).map(([, record]) => record).sort((a, b) => a.issuedAt - b.issuedAt);
  }

  private async entries(): Promise<Array<[string, GatewayToken]>> {
    return this.table.entries();
  }
}

/** A stored record, or undefined for a field nobody issued in this shape (it then counts as no token). */
function parseRecord(hash: string, raw: string): GatewayToken | undefined {
  try {
    const value = JSON.parse(raw) as { agentId?: unknown; issuedAt?: unknown; standing?: unknown; domains?: unknown };
    if (typeof value.agentId !== 'string' || typeof value.issuedAt !== 'number') return undefined;
    // A group token whose domains are not a list of domain names (written by hand) counts as no token, never as a wider one.
    const { domains } = value;
    if (domains !== undefined && !(Array.isArray(domains) && domains.every((d) => typeof d === 'string' && isSafeDomainName(d)))) return undefined;
    const group = domains === undefined ? {} : { domains: domains as string[] };
    return { id: tokenId(hash), agentId: value.agentId, issuedAt: value.issuedAt, standing: value.standing === true, ...group };
  } catch {
    return undefined;
  }
}
