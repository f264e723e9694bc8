/**
 * Pure decisions of the domain supervisor, kept apart from its I/O so they are tested on plain data.
 */
export interface DomainLoad {
  domain: string;
  /** Tasks waiting (pending, ingest and ready lists). */
  depth: number;
  /** Agents with a current heartbeat. */
  live: number;
  /** Agents spawned and not yet heartbeating. */
  starting: number;
  /** No spawn before this time (backoff after failures), ms since epoch. */
  notBefore: number;
}

export interface SpawnLimits {
  maxInstancesPerDomain: number;
  maxDomainAgents: number;
  /** Tasks one agent runs at once; more waiting than a few rounds' worth calls for another agent. */
  domainConcurrency: number;
}

/** How many agents a domain should have for the work waiting: none when idle, more as work piles up. */
export function desiredAgents(depth: number, limits: SpawnLimits): number {
  if (depth <= 0) return 0;
  return Math.min(limits.maxInstancesPerDomain, 1 + Math.floor(depth / (limits.domainConcurrency * 4)));
}

/**
 * Which domains to start an agent for now, in order of how much is waiting, within the total cap.
 * A domain with work and no agent at all always comes before adding a second agent elsewhere.
 */
export function domainsToSpawn(loads: DomainLoad[], limits: SpawnLimits, now: number): string[] {
  let total = loads.reduce((sum, l) => sum + l.live + l.starting, 0);
  const wanted = loads
    .filter((l) => now >= l.notBefore && l.live + l.starting < desiredAgents(l.depth, limits))
    .sort((a, b) => (a.live + a.starting) - (b.live + b.starting) || b.depth - a.depth || a.domain.localeCompare(b.domain));
  const picks: string[] = [];
  for (const load of wanted) {
    if (total >= limits.maxDomainAgents) break;
    picks.push(load.domain);
    total += 1;
  }
  return picks;
}

/** Delay before the next spawn of a domain after `failures` consecutive failed or crashed agents. */
export function restartBackoffMs(failures: number, baseMs = 500, capMs = 30_000): number {
  if (failures <= 0) return 0;
  return Math.min(capMs, baseMs * 2 ** (failures - 1));
}

/** A model a 429 paused, as lib/redis/model-rate-limit.ts reads it. */
export interface PausedModel {
  model: string;
  remainingMs: number;
}

/** The line that says why no new domain starts: `dan agents` and the supervisor's log print it. */
export function describeModelPause(pause: PausedModel): string {
  return `model ${pause.model} paused for ${Math.ceil(pause.remainingMs / 1000)} s more: the model API answered 429 with retry-after, so every agent's calls to it wait and no new domain starts until then`;
}

/**
 * Whether the supervisor holds off starting agents: while any model is paused by a 429, a new agent
 * would only queue more calls behind the pause (and its start-up calls would fail first). The
 * models, sorted, so the supervisor logs a hold once, not on every tick.
 */
export function spawnHold(pauses: readonly PausedModel[]): string | undefined {
  const paused = pauses.filter((p) => p.remainingMs > 0).map((p) => p.model).sort();
  return paused.length === 0 ? undefined : paused.join(', ');
}
