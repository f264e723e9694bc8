#!/usr/bin/env node
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Clock } from '../../lib/clock.js';
import { ElfMemory } from '../../lib/elf/elf-memory.js';

/**
 * The figures the ELF issue asks for, measured on this machine: builds a memory of 10,000
 * heuristics and 100,000 outcomes (with their trails) in a temporary folder, then times
 * `buildContext` for 200 varied task texts. Prints one table; `--json` prints the same as JSON.
 * Sizes: DAN_MEASURE_ELF_HEURISTICS, DAN_MEASURE_ELF_OUTCOMES, DAN_MEASURE_ELF_CONTEXTS;
 * DAN_MEASURE_ELF_DIR keeps the database in that folder instead of a temporary one.
 */

const DAY = 86_400_000;
const BATCH = 5_000;

const VOCABULARY: Record<string, string[]> = {
  backend: ['endpoint', 'handler', 'middleware', 'route', 'controller', 'schema', 'migration', 'database', 'query', 'index', 'transaction',
    'postgres', 'redis', 'cache', 'session', 'token', 'jwt', 'auth', 'password', 'hash', 'validation', 'payload', 'request', 'response',
    'pagination', 'webhook', 'queue', 'retry', 'timeout', 'rate', 'limit', 'orm', 'seed', 'users', 'orders', 'payments', 'invoice', 'email'],
  frontend: ['component', 'form', 'button', 'modal', 'layout', 'css', 'grid', 'flexbox', 'theme', 'react', 'hook', 'state', 'reducer',
    'context', 'router', 'page', 'signup', 'login', 'label', 'aria', 'focus', 'keyboard', 'contrast', 'responsive', 'mobile', 'animation',
    'render', 'memo', 'suspense', 'fetch', 'loading', 'error', 'toast', 'table', 'chart', 'dropdown', 'tooltip', 'i18n'],
  devops: ['docker', 'image', 'container', 'compose', 'kubernetes', 'helm', 'pipeline', 'ci', 'workflow', 'deploy', 'rollback', 'terraform',
    'module', 'bucket', 'secret', 'vault', 'certificate', 'tls', 'nginx', 'proxy', 'healthcheck', 'probe', 'metrics', 'prometheus', 'alert',
    'logging', 'backup', 'volume', 'network', 'firewall', 'dns', 'cron', 'registry', 'cache', 'artifact', 'release', 'tag', 'staging'],
  data: ['etl', 'pipeline', 'warehouse', 'parquet', 'csv', 'schema', 'partition', 'spark', 'batch', 'stream', 'kafka', 'topic', 'consumer',
    'offset', 'dedupe', 'join', 'aggregate', 'window', 'null', 'type', 'cast', 'timestamp', 'timezone', 'backfill', 'snapshot', 'dbt', 'model',
    'test', 'freshness', 'lineage', 'sample', 'export', 'import', 'report', 'dashboard', 'metric', 'dimension', 'fact'],
};
const SHARED = ['always', 'never', 'check', 'before', 'after', 'test', 'log', 'config', 'environment', 'variable', 'file', 'path', 'version',
  'update', 'create', 'delete', 'rename', 'refactor', 'document', 'readme', 'types', 'strict', 'null', 'undefined', 'async', 'await', 'promise'];
const ERRORS = ['TypeError: cannot read properties of undefined', 'ECONNREFUSED 127.0.0.1:5432', 'SyntaxError: unexpected token', 'timeout after 30000 ms',
  'permission denied', 'module not found', 'assertion failed: expected 200, got 500', 'duplicate key value violates unique constraint', 'out of memory'];
const DOMAINS = Object.keys(VOCABULARY);

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

function main(): void {
  const json = process.argv.includes('--json');
  const heuristicCount = Number(process.env['DAN_MEASURE_ELF_HEURISTICS'] ?? 10_000);
  const outcomeCount = Number(process.env['DAN_MEASURE_ELF_OUTCOMES'] ?? 100_000);
  const contextRuns = Number(process.env['DAN_MEASURE_ELF_CONTEXTS'] ?? 200);
  const random = mulberry32(5);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const words = (domain: string, n: number) => Array.from({ length: n }, () => (random() < 0.75 ? pick(VOCABULARY[domain] ?? SHARED) : pick(SHARED)));
  const fileOf = (domain: string) => `${domain}/${pick(VOCABULARY[domain] ?? SHARED)}/${pick(VOCABULARY[domain] ?? SHARED)}-${Math.floor(random() * 30)}.ts`;

  const end = Date.UTC(2026, 5, 1);
  const clock = { t: end - 120 * DAY, now(): number { return this.t; } } satisfies Clock & { t: number };
  const keep = process.env['DAN_MEASURE_ELF_DIR'];
  const dir = keep ? path.resolve(keep) : mkdtempSync(path.join(os.tmpdir(), 'dan-elf-measure-'));
  const file = path.join(dir, 'default.sqlite');
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
  try {
    const started = performance.now();
    const memory = ElfMemory.open(file, { clock });
    // Heuristics over 120 days, so decay, dormancy and golden status vary as they would.
    let created = 0;
    let goldenMade = 0;
    while (created < heuristicCount) {
      memory.batch(() => {
        for (let i = 0; i < BATCH && created < heuristicCount; i++) {
          clock.t = end - 120 * DAY + Math.floor((created / heuristicCount) * 118 * DAY);
          const domain = random() < 0.05 ? '*' : pick(DOMAINS);
          const vocabulary = domain === '*' ? pick(DOMAINS) : domain;
          const rule = `${pick(['Always', 'Never', 'Before you', 'When you'])} ${words(vocabulary, 5 + Math.floor(random() * 6)).join(' ')} (${created})`;
          // Golden ones among the last 14 days' heuristics: older ones would have decayed below 0.8.
          const golden = goldenMade < 60 && clock.t >= end - 14 * DAY && random() < 0.05;
          const { heuristic } = memory.recordHeuristic({
            domain, rule, source: pick(['model', 'person', 'postmortem'] as const), confidence: golden ? 1 : 0.05 + random() * 0.9,
            ...(random() < 0.3 ? { context: words(vocabulary, 12).join(' ') } : {}),
          });
          created++;
          if (golden) {
            goldenMade++;
            // Ten validations over two UTC days: the daily limit is 5.
            const at = clock.t;
            for (let v = 0; v < 10; v++) {
              if (v === 5) clock.t += DAY;
              memory.validate(heuristic.id);
            }
            clock.t = at;
          }
        }
      });
    }
    for (let done = 0; done < outcomeCount;) {
      memory.batch(() => {
        for (let i = 0; i < BATCH && done < outcomeCount; i++, done++) {
          const domain = pick(DOMAINS);
          const failed = random() < 0.25;
          const files = Array.from({ length: 1 + Math.floor(random() * 4) }, () => fileOf(domain));
          memory.recordOutcome({
            taskId: `task-${done}`, domain, status: failed ? 'failed' : 'completed', description: words(domain, 6 + Math.floor(random() * 10)).join(' '),
            workers: [pick(VOCABULARY[domain] ?? SHARED)], durationMs: Math.floor(random() * 120_000), inputTokens: 2_000, outputTokens: 500,
            ...(failed ? { error: `${pick(ERRORS)} in ${pick(files)}` } : {}),
            filesModified: files.slice(0, 2), filesCreated: files.slice(2), ...(random() < 0.5 ? { filesRead: [fileOf(domain)] } : {}),
            finishedAt: end - 90 * DAY + Math.floor((done / outcomeCount) * 90 * DAY),
          });
        }
      });
    }
    clock.t = end;
    const buildMs = performance.now() - started;
    memory.close();

    const openStarted = performance.now();
    const reopened = ElfMemory.open(file, { clock });
    const openMs = performance.now() - openStarted;
    const stats = reopened.stats();
    const tasks = Array.from({ length: contextRuns + 20 }, (_, i) => {
      const domain = pick(DOMAINS);
      return { domain, task: `${pick(['Add', 'Fix', 'Refactor', 'Speed up'])} ${words(domain, 4 + Math.floor(random() * 16)).join(' ')}`, files: Array.from({ length: Math.floor(random() * 4) }, () => fileOf(domain)), i };
    });
    const time = (fn: (t: (typeof tasks)[number]) => unknown) => {
      for (const t of tasks.slice(0, 20)) fn(t); // warm-up: statements prepared, pages cached
      return tasks.slice(20).map((t) => {
        const s = performance.now();
        fn(t);
        return performance.now() - s;
      }).sort((a, b) => a - b);
    };
    let tokens = 0;
    let items = 0;
    const preview = time((t) => reopened.buildContext(t));
    const recorded = time((t) => {
      const context = reopened.buildContext({ ...t, taskId: `measure-${t.i}`, worker: 'bench' });
      tokens += context.tokens;
      items += context.text.split('\n').filter((line) => line.startsWith('- ')).length;
    });
    const search = time((t) => reopened.search(t.task, { domain: t.domain }));
    const dbBytes = reopened.stats().databaseBytes;
    reopened.close();

    const row = (sorted: number[]) => ({ runs: sorted.length, median: percentile(sorted, 50), p99: percentile(sorted, 99) });
    const result = {
      memory: { heuristics: stats.heuristics, golden: stats.golden, dormant: stats.dormant, outcomes: stats.outcomes.total, trails: stats.trails },
      build_seconds: buildMs / 1000,
      open_with_quick_check_ms: openMs,
      database_mb: dbBytes / 1_048_576,
      build_context_recorded_ms: row(recorded),
      build_context_preview_ms: row(preview),
      search_ms: row(search),
      context_average: { tokens: tokens / contextRuns, items: items / contextRuns },
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '?', node: process.version },
    };
    if (json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    const f = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
    process.stdout.write([
      `machine: ${result.machine.cpus} x ${result.machine.model}, node ${result.machine.node}`,
      `memory: ${stats.heuristics} heuristics (${stats.golden} golden, ${stats.dormant} dormant), ${stats.outcomes.total} outcomes, ${stats.trails} trails`,
      '| measure | runs | median | p99 |',
      '|---|---|---|---|',
      `| buildContext, injection recorded (ms) | ${recorded.length} | ${f(result.build_context_recorded_ms.median, 2)} | ${f(result.build_context_recorded_ms.p99, 2)} |`,
      `| buildContext, preview (ms) | ${preview.length} | ${f(result.build_context_preview_ms.median, 2)} | ${f(result.build_context_preview_ms.p99, 2)} |`,
      `| search, heuristics and outcomes (ms) | ${search.length} | ${f(result.search_ms.median, 2)} | ${f(result.search_ms.p99, 2)} |`,
      `| context size (average tokens / items) | ${contextRuns} | ${f(result.context_average.tokens, 0)} / ${f(result.context_average.items, 1)} | |`,
      `| database size (MB) | | ${f(result.database_mb)} | |`,
      `| build time (s) | | ${f(result.build_seconds)} | |`,
      `| open with quick_check (ms) | | ${f(openMs, 0)} | |`,
      '',
    ].join('\n'));
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

main();
