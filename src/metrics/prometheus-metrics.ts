import { Counter, Gauge, Histogram, Registry, type LabelValues } from 'prom-client';
import { FailureCode } from '../../lib/protocol/failure.js';
import { PRIORITIES } from '../../lib/protocol/task.js';
import { MODEL_CALL_BOUNDS_MS, TASK_DURATION_BOUNDS_MS } from '../../lib/redis/metric-buckets.js';
import type { DurationCounts } from '../../lib/redis/task-metrics.js';
import type { MetricsSnapshot } from '../operations/metrics-snapshot.js';

/** What a scrape answers: the text and the content type Prometheus expects with it. */
export interface MetricsText {
  contentType: string;
  text: string;
}

const KNOWN_CODES: ReadonlySet<string> = new Set([...Object.values(FailureCode), 'unknown', '']);

/** A failure code as a label: one of lib/protocol/failure.ts, `unknown` (none given) or `other` (not ours). */
function codeLabel(code: string): string {
  return KNOWN_CODES.has(code) ? code : 'other';
}

/** One labelled histogram as stored: its labels and its bucket counts. */
interface StoredRow<T extends string> {
  labels: LabelValues<T>;
  durations: DurationCounts;
}

/**
 * A histogram whose buckets were counted elsewhere (in Redis, by whichever process saw the event):
 * prom-client's Histogram counts only what this process observes, so the method its Registry formats
 * a histogram from (`getForPromString`, which `get()` also reads; prom-client 15's, not in its type
 * declarations) is answered from the stored counts. The metrics tests read a real scrape, so a
 * prom-client that stopped calling it would fail them.
 */
class StoredHistogram<T extends string> extends Histogram<T> {
  constructor(
    private readonly spec: { name: string; help: string; labelNames: readonly T[]; registers: Registry[] },
    private readonly boundsMs: readonly number[],
    private readonly rows: () => Promise<StoredRow<T>[]>,
  ) {
    super({ ...spec, buckets: boundsMs.map((ms) => ms / 1000) });
  }

  async getForPromString(): Promise<{ name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] }> {
    const { name, help } = this.spec;
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const { labels, durations } of await this.rows()) {
      const own = labels as Record<string, string | number>;
      let cumulative = 0;
      durations.buckets.forEach((n, i) => {
        cumulative += n;
        const le = i < this.boundsMs.length ? (this.boundsMs[i] as number) / 1000 : '+Inf';
        values.push({ labels: { ...own, le }, value: cumulative, metricName: `${name}_bucket` });
      });
      values.push({ labels: own, value: durations.sumMs / 1000, metricName: `${name}_sum` });
      values.push({ labels: own, value: cumulative, metricName: `${name}_count` });
    }
    return { name, help, type: 'histogram', aggregator: 'sum', values };
  }
}

/**
 * Renders one scrape in Prometheus' text format from a snapshot of Redis (`read` is called once).
 * A registry is made per scrape: the values are the snapshot's, so concurrent scrapes cannot mix.
 * Names follow Prometheus' conventions: `dan_` prefix, `_total` counters, seconds as the unit.
 */
export async function renderMetrics(read: () => Promise<MetricsSnapshot>): Promise<MetricsText> {
  const snapshot = read();
  const registry = new Registry();
  const registers = [registry];

  new Gauge({
    name: 'dan_queue_tasks', help: 'Tasks of a domain by state: pending (not yet sorted), ready, delayed (waiting for a retry), running, dead_lettered, waiting_on_dependencies (in no queue until the tasks they depend on end)',
    labelNames: ['domain', 'state'] as const, registers,
    async collect() {
      for (const q of (await snapshot).queues) {
        const ready = PRIORITIES.reduce((sum, p) => sum + q.ready[p], 0);
        const states = { pending: q.pending, ready, delayed: q.delayed, running: q.running, dead_lettered: q.deadLettered, waiting_on_dependencies: q.dependencyWaiting };
        for (const [state, n] of Object.entries(states)) this.set({ domain: q.domain, state }, n);
      }
    },
  });
  new Gauge({
    name: 'dan_queue_ready_tasks', help: 'Tasks of a domain sorted by priority and ready to be claimed',
    labelNames: ['domain', 'priority'] as const, registers,
    async collect() {
      for (const q of (await snapshot).queues) for (const p of PRIORITIES) this.set({ domain: q.domain, priority: p }, q.ready[p]);
    },
  });
  new Gauge({
    name: 'dan_agents', help: 'Registered agents whose heartbeat is current, by domain and role',
    labelNames: ['domain', 'role'] as const, registers,
    async collect() {
      const counts = new Map<string, { domain: string; role: string; n: number }>();
      for (const a of (await snapshot).agents) {
        if (!a.alive) continue;
        const id = `${a.domain_type}\n${a.role}`;
        const c = counts.get(id) ?? { domain: a.domain_type, role: a.role, n: 0 };
        c.n += 1;
        counts.set(id, c);
      }
      for (const c of counts.values()) this.set({ domain: c.domain, role: c.role }, c.n);
    },
  });
  new Gauge({
    name: 'dan_domain_desired_agents', help: "Agents the main orchestrator would want for a domain's backlog (its spawning rule, within DAN_MAX_INSTANCES_PER_DOMAIN): what an outside autoscaler scales to; absent while no main orchestrator publishes",
    labelNames: ['domain'] as const, registers,
    async collect() {
      for (const s of (await snapshot).scaling) this.set({ domain: s.domain }, s.desired);
    },
  });
  new Gauge({
    name: 'dan_domain_backlog_tasks', help: 'Tasks of a domain waiting to be claimed, as the main orchestrator last counted them for its spawning rule',
    labelNames: ['domain'] as const, registers,
    async collect() {
      for (const s of (await snapshot).scaling) this.set({ domain: s.domain }, s.backlog);
    },
  });
  new Gauge({
    name: 'dan_model_paused_seconds', help: 'Seconds left of the pause a 429 with retry-after put on every agent\'s calls to a model (no new domain starts meanwhile); absent when none is paused',
    labelNames: ['model'] as const, registers,
    async collect() {
      for (const p of (await snapshot).modelPauses) this.set({ model: p.model }, p.remainingMs / 1000);
    },
  });
  new Gauge({
    name: 'dan_agent_heartbeat_age_seconds', help: "Seconds since a registered agent's last recorded heartbeat",
    labelNames: ['agent_id', 'domain', 'role'] as const, registers,
    async collect() {
      const s = await snapshot;
      for (const a of s.agents) {
        const beat = Date.parse(a.last_heartbeat);
        if (Number.isFinite(beat)) this.set({ agent_id: a.agent_id, domain: a.domain_type, role: a.role }, Math.max(0, (s.nowMs - beat) / 1000));
      }
    },
  });
  new Counter({
    name: 'dan_tasks_finished_total', help: 'Tasks that ended, by domain, status (completed, failed) and failure code (empty when completed)',
    labelNames: ['domain', 'status', 'failure_code'] as const, registers,
    async collect() {
      for (const t of (await snapshot).counters.tasks) this.inc({ domain: t.domain, status: t.status, failure_code: codeLabel(t.code) }, t.count);
    },
  });
  new StoredHistogram({
    name: 'dan_task_duration_seconds', help: 'Run time of ended tasks, from the start of the attempt that ended them', labelNames: ['domain', 'status'] as const, registers,
  }, TASK_DURATION_BOUNDS_MS, async () => (await snapshot).counters.taskDurations.map((d) => ({ labels: { domain: d.domain, status: d.status }, durations: d.durations })));
  new Counter({
    name: 'dan_dead_letters_total', help: "Items moved to a domain's dead-letter list, by failure code",
    labelNames: ['domain', 'failure_code'] as const, registers,
    async collect() {
      for (const d of (await snapshot).counters.deadLetters) this.inc({ domain: d.domain, failure_code: codeLabel(d.code) }, d.count);
    },
  });
  new Counter({
    name: 'dan_agent_spawns_total', help: 'Domain agent starts the main orchestrator attempted',
    labelNames: ['domain'] as const, registers,
    async collect() {
      for (const s of (await snapshot).counters.spawns) if (s.outcome === 'started') this.inc({ domain: s.domain }, s.count);
    },
  });
  new Counter({
    name: 'dan_agent_spawn_failures_total', help: 'Domain agent starts that failed (the spawner refused, no first heartbeat in time, or an exit before it)',
    labelNames: ['domain'] as const, registers,
    async collect() {
      for (const s of (await snapshot).counters.spawns) if (s.outcome === 'failed') this.inc({ domain: s.domain }, s.count);
    },
  });
  new Counter({
    name: 'dan_model_calls_total', help: "Model calls through the model gateway, by the model that answered and the HTTP status its caller got ('error': none)",
    labelNames: ['model', 'status'] as const, registers,
    async collect() {
      for (const c of (await snapshot).counters.modelCalls) this.inc({ model: c.model, status: c.status }, c.count);
    },
  });
  new Counter({
    name: 'dan_model_tokens_total', help: 'Tokens of model calls through the model gateway, by model and kind (input, output, cache_creation_input, cache_read_input)',
    labelNames: ['model', 'kind'] as const, registers,
    async collect() {
      for (const t of (await snapshot).counters.modelTokens) this.inc({ model: t.model, kind: t.kind }, t.count);
    },
  });
  new Counter({
    name: 'dan_model_cost_usd_total', help: 'Dollars of model calls through the model gateway, by model, at the price table (DAN_MODEL_PRICES); calls to unpriced models are not in it',
    labelNames: ['model'] as const, registers,
    async collect() {
      for (const c of (await snapshot).counters.modelCost) this.inc({ model: c.model }, c.usd);
    },
  });
  new Counter({
    name: 'dan_model_unpriced_calls_total', help: 'Model calls through the model gateway to models the price table does not list (their cost is unknown), by model',
    labelNames: ['model'] as const, registers,
    async collect() {
      for (const c of (await snapshot).counters.modelUnpriced) this.inc({ model: c.model }, c.count);
    },
  });
  new StoredHistogram({
    name: 'dan_model_call_duration_seconds', help: 'Duration of model calls through the model gateway, to the last byte of the answer', labelNames: ['model'] as const, registers,
  }, MODEL_CALL_BOUNDS_MS, async () => (await snapshot).counters.modelDurations.map((d) => ({ labels: { model: d.model }, durations: d.durations })));

  return { contentType: registry.contentType, text: await registry.metrics() };
}
