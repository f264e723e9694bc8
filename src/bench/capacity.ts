import { sleep } from '../../lib/clock.js';
import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { privateMb, round, rssMb } from './bench-kit.js';
import type { BenchEnv } from './bench-network.js';
import { startBenchNetwork } from './bench-network.js';

export interface CapacityResult {
  /** Workers asked of the one domain process (DAN_DOMAIN_CONCURRENCY), one task each. */
  workers: number;
  /** Of those, how many were waiting on the model at once. */
  waiting: number;
  /** The domain process after one echo, idle. */
  idle_rss_mb: number;
  idle_private_mb: number;
  /** After one model task: the model client loaded, no worker waiting. */
  warm_rss_mb: number;
  /** The same process with `waiting` workers waiting on the model. */
  busy_rss_mb: number;
  /** What each waiting worker adds to the process's resident memory. */
  mb_per_waiting_worker: number;
  /** 1 GB over the idle resident memory; counting only private memory (the Node binary is shared), in the second figure. */
  idle_domains_per_gb: number;
  idle_domains_per_gb_private: number;
}

const HOLD_RULE = 'bench-capacity';

/**
 * Scenario: how many workers one domain process holds while they wait on a slow model, and what each
 * costs in memory; and how many idle domain processes fit in 1 GB. One domain (backend, one instance,
 * DAN_DOMAIN_CONCURRENCY = `workers`) gets `workers` tasks; the local model server holds every one of
 * their requests, so all wait at once; the process's resident memory is read idle (after one echo),
 * after one model task (the model client loaded), and with everyone waiting.
 */
export async function measureCapacity(env: BenchEnv, workers: number): Promise<CapacityResult> {
  const net = await startBenchNetwork(env, 'capacity', {
    DAN_DOMAIN_CONCURRENCY: String(workers), DAN_MAX_INSTANCES_PER_DOMAIN: '1', DAN_DOMAIN_IDLE_MS: '600000',
  });
  try {
    await net.echo('backend', 1, 'capacity-warm');
    await sleep(2_000);
    const agent = await net.domainAgent('backend');
    if (!agent || !(agent.pid > 0)) throw new Error('bench: no backend process to measure the capacity of');
    const idle = rssMb(agent.pid);
    const idlePrivate = privateMb(agent.pid);
    // One model task first: the model client is loaded on first use, and is not what a worker costs.
    await submitTask(env.redis, net.keys, { taskId: 'capacity-warm-model', domain: 'backend', description: 'create a health endpoint' });
    await net.events.waitAll(['capacity-warm-model'], 120_000);
    await sleep(1_000);
    const warm = rssMb(agent.pid);

    env.model.clearRequests();
    env.model.setRules([{ name: HOLD_RULE, when: { anyText: '(?i)capacity probe' }, reply: { text: 'done', delay_ms: 600_000 } }, ...defaultRules()]);
    for (let i = 0; i < workers; i++) {
      await submitTask(env.redis, net.keys, { taskId: `capacity-${i}`, domain: 'backend', description: `capacity probe ${i}: create a health endpoint` });
    }
    const waiting = await settledCount(() => env.model.requests.filter((r) => r.rule === HOLD_RULE).length, workers, 60_000 + workers * 500);
    // Let the requests' sockets and buffers settle before reading the memory.
    await sleep(1_000);
    const busy = rssMb(agent.pid);
    return {
      workers, waiting,
      idle_rss_mb: idle, idle_private_mb: idlePrivate, warm_rss_mb: warm, busy_rss_mb: busy,
      mb_per_waiting_worker: waiting > 0 ? round((busy - warm) / waiting, 2) : Number.NaN,
      idle_domains_per_gb: Math.floor(1024 / idle),
      idle_domains_per_gb_private: Math.floor(1024 / idlePrivate),
    };
  } finally {
    env.model.setRules(defaultRules());
    await net.stop();
  }
}

/** Waits until `count()` reaches `target`, or has not grown for 3 s, or `timeoutMs` passed; returns it. */
async function settledCount(count: () => number, target: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let since = Date.now();
  for (;;) {
    const now = count();
    if (now >= target) return now;
    if (now !== last) [last, since] = [now, Date.now()];
    if ((now > 0 && Date.now() - since > 3_000) || Date.now() > deadline) return now;
    await sleep(50);
  }
}
