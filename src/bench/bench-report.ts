import type { WorkflowResult } from './workflow.js';
import os from 'node:os';
import type { Redis } from 'ioredis';
import type { ApiResult } from './api.js';
import { round } from './bench-kit.js';
import type { RatioSpread } from './bench-kit.js';
import type { MetricsScrapeResult } from './metrics-scrape.js';
import type { BudgetsResult } from './budgets.js';
import type { ModelPathResult } from './model-path.js';
import type { CeilingResult } from './redis-capacity.js';
import type { RecoveryResult } from './recovery.js';
import type { ScaleResult } from './scale.js';
import type { FailoverLosses, SentinelResult } from './sentinel.js';
import type { CapacityResult } from './capacity.js';
import type { IdleMemory, SpawnRow } from './spawning.js';
import type { VerificationResult } from './verification.js';
import type { LatencyRun, ThroughputResult } from './throughput.js';
import type { DashboardResult } from './dashboard.js';
import { rateLimitRows, type CacheResult, type RateLimitResult } from './rate-limit.js';

export interface Machine {
  cpu: string;
  cores: number;
  memory_gb: number;
  node: string;
  redis: string;
  docker: string;
}

export async function describeMachine(redis: Redis, docker: string): Promise<Machine> {
  const version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';
  return {
    cpu: os.cpus()[0]?.model.trim() ?? '?', cores: os.cpus().length, memory_gb: round(os.totalmem() / 2 ** 30),
    node: process.version, redis: version, docker,
  };
}

/** Everything one run measured; a scenario left out by `--only` is absent. */
export interface BenchResults {
  throughput?: ThroughputResult;
  latency?: { direct: LatencyRun; routed: LatencyRun };
  redis_cost?: {
    commands_per_direct_task: number;
    commands_per_routed_task: number;
    direct_by_command: Record<string, number>;
    routed_by_command: Record<string, number>;
    pending_tasks: number;
    bytes_per_pending_task: number;
  };
  ceiling?: CeilingResult;
  scale?: ScaleResult;
  /** `node_start_ms`: a bare Node start with the agents' environment, which every spawn includes. */
  /** `swarm`: task arrival to the first heartbeat of a new replica of the domain's Swarm service. */
  spawn?: { process: SpawnRow; docker: SpawnRow; swarm?: SpawnRow; node_start_ms: number };
  memory?: IdleMemory & { domain_container_rss_mb: number | null };
  capacity?: CapacityResult;
  model_path?: ModelPathResult;
  recovery?: RecoveryResult;
  workflow?: WorkflowResult;
  verification?: VerificationResult;
  api?: ApiResult;
  dashboard?: DashboardResult;
  metrics?: MetricsScrapeResult;
  sentinel?: SentinelResult;
  ratelimit?: RateLimitResult;
  cache?: CacheResult;
  budgets?: BudgetsResult;
}

export interface Row {
  measure: string;
  value: string;
  goal: string;
  /** Whether the goal is met; null where there is no goal or nothing was measured. */
  met: boolean | null;
}

const n = (value: number, digits = 1) => (Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits }) : 'n/a');
const atMost = (value: number, goal: number) => (Number.isFinite(value) ? value <= goal : null);
const atLeast = (value: number, goal: number) => (Number.isFinite(value) ? value >= goal : null);

/** The table's rows, each measurement next to its goal from the issue. */
export function rows(r: BenchResults): Row[] {
  const out: Row[] = [];
  const add = (measure: string, value: string, goal = '', met: boolean | null = null) => out.push({ measure, value, goal, met });
  const t = r.throughput;
  if (t) {
    add(`throughput, ${n(t.tasks, 0)} echo tasks straight to a domain (tasks/s, concurrency ${t.concurrency}, median of ${t.rounds} rounds alternating with BullMQ)`, n(t.direct_tasks_per_s));
    add(`throughput, ${n(t.tasks, 0)} echo tasks to main, routed to a domain (tasks/s, median)`, n(t.routed_tasks_per_s));
    add(`throughput, BullMQ ${n(t.tasks, 0)} no-op jobs, same Redis and concurrency (jobs/s, median)`, n(t.bullmq_jobs_per_s));
    const ratio = (x: RatioSpread) => `${n(x.median, 2)}x (rounds ${n(x.min, 2)}-${n(x.max, 2)}x)`;
    add('direct vs BullMQ, median of the rounds\' ratios (min-max)', ratio(t.direct_vs_bullmq_spread), '>= 1.2x', atLeast(t.direct_vs_bullmq, 1.2));
    add('routed vs BullMQ, median of the rounds\' ratios (min-max)', ratio(t.routed_vs_bullmq_spread), '>= 0.6x', atLeast(t.routed_vs_bullmq, 0.6));
    const cpu = t.redis_us_per_task;
    add('Redis CPU per task at full load, direct / routed / BullMQ job (µs, median of the rounds)', `${n(cpu.direct)} / ${n(cpu.routed)} / ${n(cpu.bullmq)}`);
  }
  const l = r.latency;
  if (l) {
    const show = (x: LatencyRun) => `p50 ${n(x.p50)} / p95 ${n(x.p95)} / p99 ${n(x.p99)}`;
    add(`submit -> completed, direct, at ${n(l.direct.rate_per_s, 0)}/s on a fixed schedule (ms)`, show(l.direct), 'p99 <= 10 ms', atMost(l.direct.p99, 10));
    add(`submit -> completed, routed, at ${n(l.routed.rate_per_s, 0)}/s on a fixed schedule (ms)`, show(l.routed), 'p99 <= 20 ms', atMost(l.routed.p99, 20));
  }
  const c = r.redis_cost;
  if (c) {
    add('Redis commands per direct task at half load (commands run inside Lua scripts count too)', n(c.commands_per_direct_task), '<= 12', atMost(c.commands_per_direct_task, 12));
    add('Redis commands per routed task at half load (parent and sub-task, scripts\' inner commands included)', n(c.commands_per_routed_task));
  }
  if (t) {
    add('Redis commands per task at full load, direct / routed', `${n(t.commands_saturated.direct.total)} / ${n(t.commands_saturated.routed.total)}`);
  }
  if (c) add(`Redis memory per pending task, ${n(c.pending_tasks, 0)} queued (bytes)`, n(c.bytes_per_pending_task, 0));
  const g = r.ceiling;
  if (g) {
    add(`Redis ceiling: the direct task's command mix, ${g.tool}, ${g.clients} clients, pipelines of ${g.pipeline} (commands/s -> tasks/s)`, `${n(g.commands_per_s, 0)} -> ${n(g.ceiling_tasks_per_s, 0)}`);
    add('direct throughput as a fraction of the ceiling', n(g.fraction, 3), '>= 0.3', atLeast(g.fraction, 0.3));
  }
  if (r.scale) {
    add(`scale: ${n(r.scale.tasks, 0)} direct echo tasks over ${Object.keys(r.scale.tasks_per_s).join(' / ')} domains (tasks/s)`, Object.values(r.scale.tasks_per_s).map((v) => n(v)).join(' / '));
  }
  const s = r.spawn;
  if (s) {
    const spawnRow = (label: string, row: SpawnRow, goal: number) => {
      if ('skipped' in row) add(`spawn -> first heartbeat, ${label} (ms)`, `skipped: ${row.skipped}`, `median <= ${n(goal, 0)} ms`);
      else add(`spawn -> first heartbeat, ${label}, median / worst of ${row.runs} (ms)`, `${n(row.median_ms)} / ${n(row.worst_ms)}`, `median <= ${n(goal, 0)} ms`, atMost(row.median_ms, goal));
    };
    spawnRow('process spawner', s.process, 400);
    spawnRow('Docker spawner', s.docker, 1000);
    // A replica is a service update, a task scheduled, then a container: the Docker figure plus Swarm's scheduling.
    if (s.swarm) spawnRow('Swarm spawner (new replica)', s.swarm, 3000);
    const caNote = process.env['NODE_EXTRA_CA_CERTS'] ? '; NODE_EXTRA_CA_CERTS is set, and Node reads that bundle at every start' : '';
    add(`  of which a bare Node start, \`node -e 0\` (ms, median of 5${caNote})`, n(s.node_start_ms));
  }
  const m = r.memory;
  if (m) {
    add('idle resident memory, main orchestrator process (MB)', n(m.main_rss_mb));
    add('idle resident memory, domain process after one echo (MB)', n(m.domain_process_rss_mb), '<= 60 MB', atMost(m.domain_process_rss_mb, 60));
    add('  of which private to it (MB; the rest is the Node binary and libraries every Node process shares)', n(m.domain_process_private_mb));
    add('idle resident memory, domain container after one echo (MB, its processes)', m.domain_container_rss_mb === null ? 'skipped (no Docker)' : n(m.domain_container_rss_mb));
  }
  const k = r.capacity;
  if (k) {
    // Goals: every worker asked for waits at once; a waiting worker costs well under a tenth of an idle
    // process; the idle figure follows from the 60 MB goal above (1024 / 60).
    add(`capacity: workers one domain process holds waiting on a slow model (of ${k.workers} asked)`, n(k.waiting, 0), `all ${k.workers}`, k.waiting >= k.workers);
    add(`  resident memory per waiting worker (MB; process ${n(k.warm_rss_mb)} MB after one model task, ${n(k.busy_rss_mb)} MB with them)`, n(k.mb_per_waiting_worker, 2), '<= 1 MB', atMost(k.mb_per_waiting_worker, 1));
    add('capacity: idle domain processes in 1 GB (1024 / idle resident MB)', n(k.idle_domains_per_gb, 0), '>= 17', atLeast(k.idle_domains_per_gb, 17));
    add(`  counting only private memory (1024 / ${n(k.idle_private_mb)} MB; the Node binary is shared)`, n(k.idle_domains_per_gb_private, 0));
  }
  const p = r.model_path;
  if (p) {
    add(`model path: single-worker task, model answering at once (ms per turn; ${n(p.turns_per_task)} turns, task median ${n(p.task_ms_median)} ms)`, n(p.overhead_per_turn_ms));
    add('model requests that mark the stable prompt for caching', `${p.requests_marked_for_cache} of ${p.requests}`, 'every one', p.requests > 0 ? p.requests_marked_for_cache === p.requests : null);
  }
  const w = r.workflow;
  if (w) {
    // The release is in the finishing script; what is left is the consumer's wake-up and claim.
    add(`workflow of ${w.steps} steps (fan-out/fan-in, local model): a step's needs completed -> it started, median / p99 of ${w.release_to_start_ms.samples} (ms)`,
      `${n(w.release_to_start_ms.median)} / ${n(w.release_to_start_ms.p99)}`, 'median <= 100 ms', atMost(w.release_to_start_ms.median, 100));
    add(`workflow: Redis commands per step (all of its work, model path included); whole run (s)`, `${n(w.commands_per_step)}; ${n(w.total_ms / 1000, 1)}`);
  }
  const v = r.recovery;
  if (v) {
    add('a SIGKILLed domain\'s task running again / completed (s, defaults)', `${n(v.running_again_ms / 1000, 2)} / ${n(v.completed_ms / 1000, 2)}`, '<= 10 s', atMost(v.running_again_ms, 10_000));
  }
  const f = r.verification;
  if (f) {
    const plan = f.planned;
    add(`verification: ${f.tasks} tasks (seed ${f.seed}; the scripted worker right at once / after 1 / after 2 failed rounds / never: ${plan.first_try} / ${plan.after_1} / ${plan.after_2} / ${plan.never}; the reviewer asks ${plan.review_request} of them for a change, ${plan.review_request_in_last_round} in their last round), ${f.rounds_allowed} rounds`, `${f.completed} completed, ${f.verification_failed} verification_failed, ${f.changes_requested} changes_requested`);
    add('  completed with a failing check (each completed task\'s check run again after the run)', n(f.completed_with_failing_check, 0), '0', f.completed_with_failing_check === 0);
    add('  repaired within the rounds (completed after a failed check or a review request) / right at once', `${f.repaired} / ${f.completed_first_try}`, 'as the seeded plan says', f.unexpected === 0);
    add('  repair rounds after a failed check / after a review request', `${f.repair_rounds.checks} / ${f.repair_rounds.review}`);
    add('  model turns per task, with checks and the reviewer / without (extra; reviews per task)', `${n(f.turns_per_task.with_checks, 2)} / ${n(f.turns_per_task.without, 2)} (+${n(f.turns_per_task.extra, 2)}; ${n(f.reviews_per_task, 2)})`);
    add('  tokens per task, with checks and the reviewer / without (extra)', `${n(f.tokens_per_task.with_checks, 0)} / ${n(f.tokens_per_task.without, 0)} (+${n(f.tokens_per_task.extra, 0)})`);
    add('  the checks\' own time per task, every round (ms); all tasks with checks / without (s)', `${n(f.check_ms_per_task)}; ${n(f.wall_ms.with_checks / 1000, 2)} / ${n(f.wall_ms.without / 1000, 2)}`);
  }
  const a = r.api;
  if (a) {
    add(`HTTP API: ${n(a.jobs, 0)} echo jobs queued, POST /jobs to dan serve with a key / submitTask straight to Redis, ${a.concurrency} in flight (jobs/s)`, `${n(a.http_submits_per_s)} / ${n(a.direct_submits_per_s)}`);
    add('  HTTP vs straight to Redis', `${n(a.http_vs_direct, 2)}x`, '>= 0.7x', atLeast(a.http_vs_direct, 0.7));
    add('  the same client against a server in its own process that answers 202 at once (jobs/s; vs straight to Redis, run beside it): what HTTP can reach here', `${n(a.ceiling_submits_per_s)}; ${n(a.ceiling_vs_direct, 2)}x`);
    add('  dan serve CPU time per POST /jobs / per GET /jobs/{id} (µs)', `${n(a.serve_cpu_us.post)} / ${n(a.serve_cpu_us.get)}`);
    add(`HTTP API: GET /jobs/{id} at ${n(a.get_at_half.rate_per_s, 0)}/s, half its maximum of ${n(a.get_max_per_s, 0)}/s (ms)`, `p50 ${n(a.get_at_half.p50, 2)} / p95 ${n(a.get_at_half.p95, 2)} / p99 ${n(a.get_at_half.p99, 2)}`, 'p99 < 5 ms', Number.isFinite(a.get_at_half.p99) ? a.get_at_half.p99 < 5 : null);
    add('idle resident memory, dan serve process (MB; after the load above)', `${n(a.idle_rss_mb)} (${n(a.after_load_rss_mb)})`);
  }
  const d = r.dashboard;
  if (d && 'skipped' in d) add('dashboard in headless Chromium', `skipped: ${d.skipped}`);
  else if (d) {
    add(`dashboard: the overview drawn, ${n(d.tasks, 0)} tasks in Redis (ms from navigation, median of ${d.runs})`, n(d.overview_ms), '< 1000 ms', d.overview_ms < 1000);
    add(`dashboard: a task page with all ${n(d.log_lines, 0)} log lines shown (ms from navigation, median of ${d.runs})`, n(d.task_page_ms), '< 1000 ms', d.task_page_ms < 1000);
    add('dashboard: the page\'s own files as sent, gzip (uncompressed) (KB)', `${n(d.assets_gzip_kb)} (${n(d.assets_raw_kb)})`, '< 300 KB', d.assets_gzip_kb < 300);
    add(`dashboard: a log line from written to shown on the open task page, median / worst of ${d.latency_lines} (ms)`, `${n(d.log_latency_median_ms)} / ${n(d.log_latency_max_ms)}`, 'median < 250 ms', d.log_latency_median_ms < 250);
  }
  const x = r.metrics;
  if (x) {
    add(`/metrics scrape with ${n(x.tasks, 0)} tasks in Redis (${n(x.ended, 0)} ended), read and rendered in the bench's process, p50 / p95 of ${x.scrapes} (ms)`, `${n(x.ms.p50, 2)} / ${n(x.ms.p95, 2)}`);
    add('  the same scrape with no task in Redis, p50 / p95 (ms)', `${n(x.empty_ms.p50, 2)} / ${n(x.empty_ms.p95, 2)}`);
    add('  Redis commands per scrape (the same whatever the number of tasks); text (bytes)', `${n(x.commands.total, 1)}; ${n(x.bytes, 0)}`);
  }
  const b = r.budgets;
  if (b) {
    add(`budgets: ${n(b.tasks, 0)} tasks with random budgets, ${b.workers_per_task} concurrent workers each (${n(b.calls, 0)} calls): most any budget was passed by / dearest single call ($)`,
      `${b.max_overspend_usd.toFixed(6)} / ${b.max_call_usd.toFixed(6)}`, 'overspend <= one call', b.over_by_more_than_one_call === 0);
    add('  workers stopped by a refusal (budget_exceeded); tasks passed by more than one call', `${n(b.refused_workers, 0)} of ${n(b.tasks * b.workers_per_task, 0)}; ${n(b.over_by_more_than_one_call, 0)}`);
  }
  const z = r.sentinel;
  if (z && 'skipped' in z) add('Sentinel failover', `skipped: ${z.skipped}`);
  else if (z) {
    const k = z.kill_to_next_completed_ms;
    add(`Sentinel: master SIGKILLed -> next task completed on the promoted replica, median / worst of ${k.runs} failovers (s; ${z.replicas} replicas, ${z.sentinels} Sentinels, down-after ${n(z.down_after_ms, 0)} ms)`, `${n(k.p50 / 1000, 2)} / ${n(k.worst / 1000, 2)}`);
    const lost = (l: FailoverLosses) => `${n(l.lost, 0)} of ${n(l.acknowledged_before_kill, 0)}`;
    add(`  acknowledged submits lost, master killed as it is (${z.crash.no_wait.failovers} failovers), no wait / DAN_REDIS_WAIT_REPLICAS=1`, `${lost(z.crash.no_wait)} / ${lost(z.crash.wait_1)}`);
    add(`  acknowledged submits lost, replicas paused 300 ms before the kill (${z.replicas_paused.no_wait.failovers} failovers), no wait / wait 1 (submits the wait refused: ${n(z.wait_1_refused, 0)})`, `${lost(z.replicas_paused.no_wait)} / ${lost(z.replicas_paused.wait_1)}`);
    add('  submit, one at a time, median, no wait / wait 1 (ms)', `${n(z.submit_no_wait.median_ms, 2)} / ${n(z.submit_wait_1.median_ms, 2)}`);
    add(`  submits/s, ${z.concurrency} in flight, no wait / wait 1`, `${n(z.submit_no_wait.per_s, 0)} / ${n(z.submit_wait_1.per_s, 0)}`);
  }
  out.push(...rateLimitRows(r));
  return out;
}

export function formatTable(machine: Machine, mode: string, table: Row[]): string {
  const mark = (met: boolean | null) => (met === null ? '' : met ? 'yes' : 'NO');
  return [
    `machine: ${machine.cores} x ${machine.cpu}, ${n(machine.memory_gb)} GB, Node ${machine.node}, Redis ${machine.redis}, Docker ${machine.docker} (${mode} run)`,
    '',
    '| measure | value | goal | met |',
    '|---|---|---|---|',
    ...table.map((row) => `| ${row.measure} | ${row.value} | ${row.goal} | ${mark(row.met)} |`),
  ].join('\n');
}
