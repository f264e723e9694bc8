/** Outcome ids stay below 2^40, so a domain's failures own the rowids [n * 2^40, (n + 1) * 2^40). */
export const DOMAIN_ROWID_SPAN = 2 ** 40;

/** One schema step; `version` is what `PRAGMA user_version` holds once it has run. */
export interface ElfMigration {
  version: number;
  sql: string;
}

// Times are epoch milliseconds (INTEGER); lists are JSON arrays (TEXT). The FTS5 tables are
// contentless indexes whose rowid stands for the row's id (the text stays in the table); `porter`
// lets "tokens" match "token". Rows are indexed by the code that
// inserts them, in the same transaction (an AFTER INSERT trigger made each insert several times
// slower); indexed columns are never updated, and triggers mirror deletes.
const V1 = `
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

CREATE TABLE outcomes (
  id INTEGER PRIMARY KEY,
  task_id TEXT NOT NULL UNIQUE,
  parent_id TEXT,
  domain TEXT NOT NULL,
  status TEXT NOT NULL,
  workers TEXT NOT NULL DEFAULT '[]',
  duration_ms INTEGER,
  files_created TEXT NOT NULL DEFAULT '[]',
  files_modified TEXT NOT NULL DEFAULT '[]',
  files_read TEXT NOT NULL DEFAULT '[]',
  error TEXT NOT NULL DEFAULT '',
  input_tokens INTEGER,
  output_tokens INTEGER,
  description TEXT NOT NULL DEFAULT '',
  finished_at INTEGER NOT NULL,
  recorded_at INTEGER NOT NULL
);
-- (domain, status, id): the newest failures of a domain, for the similar-failure window.
CREATE INDEX outcomes_domain_status ON outcomes (domain, status);

CREATE TABLE heuristics (
  id INTEGER PRIMARY KEY,
  domain TEXT NOT NULL,
  rule TEXT NOT NULL,
  rule_key TEXT NOT NULL,
  context TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL CHECK (source IN ('model', 'person', 'postmortem')),
  confidence REAL NOT NULL,
  validations INTEGER NOT NULL DEFAULT 0,
  violations INTEGER NOT NULL DEFAULT 0,
  contradictions INTEGER NOT NULL DEFAULT 0,
  golden INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  last_updated_at INTEGER
);
CREATE UNIQUE INDEX heuristics_rule_key ON heuristics (domain, rule_key);
CREATE INDEX heuristics_golden ON heuristics (golden, domain);

CREATE TABLE heuristic_updates (
  id INTEGER PRIMARY KEY,
  heuristic_id INTEGER NOT NULL REFERENCES heuristics (id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('validation', 'violation', 'contradiction')),
  task_id TEXT,
  confidence_before REAL NOT NULL,
  confidence_after REAL NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX heuristic_updates_by_day ON heuristic_updates (heuristic_id, at);

CREATE TABLE heuristic_credits (
  heuristic_id INTEGER NOT NULL REFERENCES heuristics (id) ON DELETE CASCADE,
  task_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (heuristic_id, task_id)
) WITHOUT ROWID;

CREATE TABLE trails (
  id INTEGER PRIMARY KEY,
  file TEXT NOT NULL,
  domain TEXT NOT NULL,
  task_id TEXT NOT NULL,
  outcome TEXT NOT NULL,
  failed INTEGER NOT NULL DEFAULT 0,
  strength REAL NOT NULL,
  deposited_at INTEGER NOT NULL
);
CREATE INDEX trails_file ON trails (file, deposited_at);

-- Per file, the sum of its deposits' strengths as of ref_at, for scope = a domain and for
-- scope = '*' (all domains). heat_key = log2(strength) + ref_at / half-life orders files by
-- current strength without reading the clock, so hotspots is an index walk.
CREATE TABLE trail_heat (
  scope TEXT NOT NULL,
  file TEXT NOT NULL,
  strength REAL NOT NULL,
  ref_at INTEGER NOT NULL,
  heat_key REAL NOT NULL,
  deposits INTEGER NOT NULL,
  failures INTEGER NOT NULL,
  last_deposit_at INTEGER NOT NULL,
  PRIMARY KEY (scope, file)
) WITHOUT ROWID;
CREATE INDEX trail_heat_rank ON trail_heat (scope, heat_key DESC);

CREATE TABLE plans (
  id INTEGER PRIMARY KEY,
  task_id TEXT,
  domain TEXT NOT NULL,
  description TEXT NOT NULL,
  plan TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX plans_task ON plans (task_id);

CREATE TABLE postmortems (
  id INTEGER PRIMARY KEY,
  task_id TEXT NOT NULL,
  domain TEXT NOT NULL,
  error TEXT NOT NULL,
  analysis TEXT NOT NULL,
  heuristic_ids TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL
);
CREATE INDEX postmortems_task ON postmortems (task_id);

CREATE TABLE injections (
  id INTEGER PRIMARY KEY,
  task_id TEXT NOT NULL,
  domain TEXT NOT NULL,
  worker TEXT NOT NULL DEFAULT '',
  text TEXT NOT NULL,
  heuristic_ids TEXT NOT NULL DEFAULT '[]',
  tokens INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX injections_task ON injections (task_id);

CREATE VIRTUAL TABLE heuristics_fts USING fts5 (
  rule, context, content = '', contentless_delete = 1, tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO heuristics_fts (heuristics_fts, rank) VALUES ('rank', 'bm25(2.0, 1.0)');
CREATE TRIGGER heuristics_fts_delete AFTER DELETE ON heuristics BEGIN
  DELETE FROM heuristics_fts WHERE rowid = old.id;
END;

-- Every outcome, for search; and the failed ones again, for a context's similar failures, with
-- rowid = domain number * 2^40 + outcome id so that one domain's recent failures are one rowid
-- range and ranking reads only those.
CREATE TABLE domains (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE VIRTUAL TABLE outcomes_fts USING fts5 (
  description, error, content = '', contentless_delete = 1, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE failures_fts USING fts5 (
  description, error, content = '', contentless_delete = 1, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER outcomes_fts_delete AFTER DELETE ON outcomes BEGIN
  DELETE FROM outcomes_fts WHERE rowid = old.id;
END;
CREATE TRIGGER failures_fts_delete AFTER DELETE ON outcomes WHEN old.status = 'failed' BEGIN
  DELETE FROM failures_fts WHERE rowid = (SELECT id FROM domains WHERE name = old.domain) * ${DOMAIN_ROWID_SPAN} + old.id;
END;
`;

// Where each heuristic came from and whether it may reach a prompt. A lesson a model or a postmortem
// proposed is a `candidate` until a person approves it; rows of older databases get the same rule,
// so a lesson a hostile model wrote before the upgrade is not injected after it either (a person's
// are approved). `origin`: `human`, `model:<task id>/<worker>` or `postmortem:<task id>`; older rows
// only know their source.
const V2 = `
ALTER TABLE heuristics ADD COLUMN origin TEXT NOT NULL DEFAULT '';
ALTER TABLE heuristics ADD COLUMN state TEXT NOT NULL DEFAULT 'candidate' CHECK (state IN ('candidate', 'approved'));
UPDATE heuristics SET origin = CASE source WHEN 'person' THEN 'human' ELSE source END;
UPDATE heuristics SET state = 'approved' WHERE source = 'person';
`;

// Trails per repository, and contradictions a worker reports. A deposit names the repository its task
// worked in (`context.path` or `context.workspace`, '' when the task named none) and is summed, besides
// the domain and '*' scopes people list, into `<domain>@<repository>` and `*@<repository>` scopes, which
// are the only ones a context reads: one repository's files never reach work on another. The trails of
// an older database are of an unknown repository: they go to the '' repository, which serves tasks that
// name none, as they did before.
// A claim: a worker shown a rule says it did not hold for its task; the task's outcome decides (see
// ElfMemory.creditTask).
const V3 = `
ALTER TABLE trails ADD COLUMN repository TEXT NOT NULL DEFAULT '';
INSERT INTO trail_heat (scope, file, strength, ref_at, heat_key, deposits, failures, last_deposit_at)
  SELECT scope || '@', file, strength, ref_at, heat_key, deposits, failures, last_deposit_at FROM trail_heat WHERE instr(scope, '@') = 0;
CREATE TABLE heuristic_claims (
  heuristic_id INTEGER NOT NULL REFERENCES heuristics (id) ON DELETE CASCADE,
  task_id TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  origin TEXT NOT NULL DEFAULT '',
  at INTEGER NOT NULL,
  PRIMARY KEY (heuristic_id, task_id)
) WITHOUT ROWID;
`;

/** The schema of this version of dan, oldest step first. Never edit a released step: add one. */
export const ELF_MIGRATIONS: readonly ElfMigration[] = [{ version: 1, sql: V1 }, { version: 2, sql: V2 }, { version: 3, sql: V3 }];
