import type { Clock } from '../clock.js';
import type { ElfDatabase } from './elf-database.js';
import type { Hotspot } from './elf-types.js';

export interface Deposit {
  file: string;
  domain: string;
  /** The repository the task worked in; '' when it named none. */
  repository: string;
  taskId: string;
  outcome: string;
  failed: boolean;
  strength: number;
  atMs: number;
}

interface HeatRow {
  file: string;
  strength: number;
  ref_at: number;
  deposits: number;
  failures: number;
  last_deposit_at: number;
}

const ALL_SCOPES = '*';

/** Which deposits a ranking sums: a domain's (or '*': all), and with `repository` only that repository's. */
export interface TrailScope {
  domain: string | null;
  repository?: string | null;
}

// `<domain>@<repository>`: domain names never hold '@', so the first one separates the two.
function scopeKey({ domain, repository }: TrailScope): string {
  const d = domain ?? ALL_SCOPES;
  return repository === undefined || repository === null ? d : `${d}@${repository}`;
}

/**
 * Pheromone trails: every deposit is kept in `trails`, and each file's decayed sum is kept in
 * `trail_heat` per domain and for all domains, so ranking files is an index walk however many
 * deposits there are. A deposit of strength s made at t is worth s * 0.5^((now - t) / halfLife).
 */
export class ElfTrailStore {
  constructor(
    private readonly db: ElfDatabase,
    private readonly clock: Clock,
    private readonly halfLifeMs: number,
    private readonly recentFailureMs: number,
  ) {
    const stored = db.get<{ value: string }>("SELECT value FROM meta WHERE name = 'trail_half_life_ms'");
    if (stored?.value !== String(halfLifeMs)) {
      // heat_key depends on the half-life: re-key every file once when it changes.
      db.transaction(() => {
        db.run('UPDATE trail_heat SET heat_key = log2(strength) + ref_at * 1.0 / ?', [halfLifeMs]);
        db.run("INSERT INTO meta (name, value) VALUES ('trail_half_life_ms', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [String(halfLifeMs)]);
      });
    }
  }

  /** Records one deposit; the caller holds the transaction. */
  deposit(d: Deposit): void {
    this.db.run(
      'INSERT INTO trails (file, domain, repository, task_id, outcome, failed, strength, deposited_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [d.file, d.domain, d.repository, d.taskId, d.outcome, d.failed ? 1 : 0, d.strength, d.atMs],
    );
    for (const domain of [d.domain, ALL_SCOPES]) {
      for (const repository of [null, d.repository]) this.addHeat(scopeKey({ domain, repository }), d);
    }
  }

  /** Files by current strength, hottest first, of the deposits `scope` names. */
  hotspots(scope: TrailScope, limit: number): Hotspot[] {
    const rows = this.db.all<HeatRow>(
      'SELECT file, strength, ref_at, deposits, failures, last_deposit_at FROM trail_heat WHERE scope = ? ORDER BY heat_key DESC LIMIT ?',
      [scopeKey(scope), limit],
    );
    return rows.map((row) => this.toHotspot(row, scope));
  }

  /** The current heat of the given files in `scope`, in the given order; files never touched are left out. */
  heatOf(scope: TrailScope, files: readonly string[]): Hotspot[] {
    const out: Hotspot[] = [];
    for (const file of files) {
      const row = this.db.get<HeatRow>(
        'SELECT file, strength, ref_at, deposits, failures, last_deposit_at FROM trail_heat WHERE scope = ? AND file = ?',
        [scopeKey(scope), file],
      );
      if (row) out.push(this.toHotspot(row, scope));
    }
    return out;
  }

  count(): number {
    return this.db.get<{ n: number }>('SELECT count(*) AS n FROM trails')?.n ?? 0;
  }

  private addHeat(scope: string, d: Deposit): void {
    const row = this.db.get<HeatRow>('SELECT file, strength, ref_at, deposits, failures, last_deposit_at FROM trail_heat WHERE scope = ? AND file = ?', [scope, d.file]);
    let strength = d.strength;
    let refAt = d.atMs;
    if (row && d.atMs >= row.ref_at) {
      strength = row.strength * this.decay(d.atMs - row.ref_at) + d.strength;
    } else if (row) {
      // A deposit older than the file's reference time (a replayed outcome): decay it to ref_at.
      strength = row.strength + d.strength * this.decay(row.ref_at - d.atMs);
      refAt = row.ref_at;
    }
    this.db.run(
      `INSERT INTO trail_heat (scope, file, strength, ref_at, heat_key, deposits, failures, last_deposit_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (scope, file) DO UPDATE SET strength = excluded.strength, ref_at = excluded.ref_at, heat_key = excluded.heat_key,
         deposits = excluded.deposits, failures = excluded.failures, last_deposit_at = excluded.last_deposit_at`,
      [
        scope, d.file, strength, refAt, Math.log2(strength) + refAt / this.halfLifeMs,
        (row?.deposits ?? 0) + 1, (row?.failures ?? 0) + (d.failed ? 1 : 0), Math.max(row?.last_deposit_at ?? 0, d.atMs),
      ],
    );
  }

  private toHotspot(row: HeatRow, scope: TrailScope): Hotspot {
    const now = this.clock.now();
    const domain = scope.domain === ALL_SCOPES ? null : scope.domain;
    const repository = scope.repository ?? null;
    const failures = row.failures === 0 ? 0 : (this.db.get<{ n: number }>(
      `SELECT count(*) AS n FROM trails WHERE file = ? AND deposited_at >= ? AND failed = 1 AND (? IS NULL OR domain = ?)
         AND (? IS NULL OR repository = ?)`,
      [row.file, now - this.recentFailureMs, domain, domain, repository, repository],
    )?.n ?? 0);
    return {
      file: row.file,
      strength: row.strength * this.decay(now - row.ref_at),
      deposits: row.deposits,
      recentFailures: failures,
      lastDepositAt: new Date(row.last_deposit_at).toISOString(),
    };
  }

  private decay(ageMs: number): number {
    return 0.5 ** (ageMs / this.halfLifeMs);
  }
}
