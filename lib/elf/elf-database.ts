import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DanError } from '../errors.js';
import { ELF_MIGRATIONS, type ElfMigration } from './elf-schema.js';

/** A value SQLite stores; booleans are written as 0/1 by the callers. */
export type SqlValue = string | number | bigint | null;
/** Named parameters (`@name` in the SQL, `name` here) or positional ones. */
export type SqlParams = Record<string, SqlValue> | readonly SqlValue[];

export interface ElfDatabaseOptions {
  /** How long a write waits for another connection's lock before failing. */
  busyTimeoutMs?: number;
  /** Migrations to run; the schema of this version of dan by default (tests pass their own). */
  migrations?: readonly ElfMigration[];
}

/**
 * One SQLite file of ELF memory: the only place better-sqlite3 is used. Opening checks the file
 * (`PRAGMA quick_check`), switches to WAL with foreign keys on, and brings the schema up to date in
 * one transaction per migration, numbered by `PRAGMA user_version`. Statements are prepared once
 * and reused.
 */
export class ElfDatabase {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  // Made once: better-sqlite3 builds a wrapper per `transaction()` call, which costs more than the work.
  private readonly inTransaction: (fn: () => unknown) => unknown;

  private constructor(file: string, db: Database.Database) {
    this.file = file;
    this.db = db;
    this.inTransaction = db.transaction((fn: () => unknown) => fn());
  }

  /**
   * Opens (creating if missing) and migrates. A damaged file is an `elf_db_corrupt` error naming
   * it; a file that cannot be opened at all is `elf_db_unavailable`.
   */
  static open(file: string, options: ElfDatabaseOptions = {}): ElfDatabase {
    const resolved = path.resolve(file);
    const busyTimeoutMs = Math.max(0, Math.floor(options.busyTimeoutMs ?? 5_000));
    let db: Database.Database;
    try {
      // Lessons, outcomes and trails hold task text: the owner's only, whatever the umask. Folders
      // made here are 0700; a new file is made 0600 before SQLite opens it, and SQLite gives its
      // -wal and -shm files the mode of the database file.
      mkdirSync(path.dirname(resolved), { recursive: true, mode: 0o700 });
      closeSync(openSync(resolved, 'a', 0o600));
      db = new Database(resolved, { timeout: busyTimeoutMs });
    } catch (error) {
      throw unusable(resolved, error);
    }
    try {
      const problems = db.pragma('quick_check', { simple: false }) as Array<{ quick_check: string }>;
      const report = problems.map((row) => row.quick_check);
      if (report.length !== 1 || report[0] !== 'ok') throw new DamagedError(report.slice(0, 3).join('; '));
    } catch (error) {
      db.close();
      throw unusable(resolved, error);
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL'); // WAL: durable at checkpoints, consistent always
    db.pragma('foreign_keys = ON');
    const database = new ElfDatabase(resolved, db);
    try {
      database.migrate(options.migrations ?? ELF_MIGRATIONS);
    } catch (error) {
      db.close();
      throw error;
    }
    return database;
  }

  /** Schema version of the file, `PRAGMA user_version`. */
  get schemaVersion(): number {
    return Number(this.db.pragma('user_version', { simple: true }));
  }

  run(sql: string, params: SqlParams = []): { changes: number; lastInsertRowid: number } {
    const result = this.statement(sql).run(params);
    return { changes: result.changes, lastInsertRowid: Number(result.lastInsertRowid) };
  }

  get<T>(sql: string, params: SqlParams = []): T | undefined {
    return this.statement(sql).get(params) as T | undefined;
  }

  all<T>(sql: string, params: SqlParams = []): T[] {
    return this.statement(sql).all(params) as T[];
  }

  exec(sql: string): void {
    this.db.exec(sql);
  }

  /**
   * Runs `fn` in one transaction; a throw rolls it back. Inside another transaction `fn` simply
   * joins it (no savepoint): the outer one commits or rolls back the whole.
   */
  transaction<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    return this.inTransaction(fn) as T;
  }

  /** A deterministic SQL function backed by JavaScript, so SQL and code share one rule. */
  defineFunction(name: string, fn: (...args: never[]) => SqlValue): void {
    this.db.function(name, { deterministic: true }, fn as (...args: unknown[]) => SqlValue);
  }

  /** Bytes on disk: the database file and its write-ahead log. */
  sizeBytes(): number {
    let bytes = 0;
    for (const suffix of ['', '-wal']) {
      try {
        bytes += statSync(`${this.file}${suffix}`).size;
      } catch {
        // no WAL file yet
      }
    }
    return bytes;
  }

  get open(): boolean {
    return this.db.open;
  }

  close(): void {
    if (!this.db.open) return;
    this.statements.clear();
    this.db.close();
  }

  private migrate(migrations: readonly ElfMigration[]): void {
    const latest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
    const current = this.schemaVersion;
    if (current > latest) {
      throw new DanError(
        'elf_db_newer',
        `ELF database ${this.file} has schema version ${current}, newer than this dan knows (${latest}): upgrade dan or point it at another file`,
      );
    }
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (migration.version <= this.schemaVersion) continue;
      this.transaction(() => {
        this.db.exec(migration.sql);
        this.db.pragma(`user_version = ${migration.version}`);
      });
    }
  }

  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

class DamagedError extends Error {}

// SQLITE_NOTADB: not a database file; SQLITE_CORRUPT: a damaged one. Anything else (a missing
// folder, no permission, a lock held too long) is not the file's fault and says so.
function unusable(file: string, cause: unknown): DanError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const code = (cause as { code?: unknown } | null)?.code;
  if (cause instanceof DamagedError || code === 'SQLITE_NOTADB' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT'))) {
    return new DanError(
      'elf_db_corrupt',
      `ELF database ${file} is damaged or not an SQLite database (${reason}): move it aside or restore a backup; ELF starts empty on a new file`,
      { cause },
    );
  }
  return new DanError('elf_db_unavailable', `cannot open ELF database ${file} (${reason}): check the path and its permissions`, { cause, retryable: true });
}
