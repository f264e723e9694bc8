import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../lib/config.js';
import { round } from './bench-kit.js';
import type { BenchEnv } from './bench-network.js';
import { startBenchNetwork } from './bench-network.js';
import { CONCURRENCY } from './throughput.js';

export interface ScaleResult {
  tasks: number;
  /** Domain count -> echo tasks per second, tasks spread evenly over the domains. */
  tasks_per_s: Record<string, number>;
}

/** A folder of `count` identical domains (`bench-01`, ...), each with one default worker. */
function benchAgents(dir: string, count: number): string[] {
  cpSync(path.join(packageRoot(), 'agents', 'main'), path.join(dir, 'main'), { recursive: true });
  const names = Array.from({ length: count }, (_, i) => `bench-${String(i + 1).padStart(2, '0')}`);
  for (const name of names) {
    mkdirSync(path.join(dir, name, 'workers'), { recursive: true });
    writeFileSync(path.join(dir, name, 'domain.md'), `---\nname: ${name}\ndescription: Benchmark domain ${name}\nkeywords: [${name}]\n---\nAnswers echo tasks.\n`);
    writeFileSync(path.join(dir, name, 'workers', 'noop.md'), `---\nname: noop\ndescription: Does nothing\ntools: [Read]\ndefault: true\n---\nNothing to do.\n`);
  }
  return names;
}

/**
 * Scenario 5: the same number of direct echo tasks spread over 1, 4 and 16 domains (one agent each,
 * 16 slots each), all agents started and warm before the clock runs.
 */
export async function measureScale(env: BenchEnv, tasks: number, domainCounts: readonly number[]): Promise<ScaleResult> {
  const most = Math.max(...domainCounts);
  const dir = path.join(env.workspace, '.bench-agents');
  const names = benchAgents(dir, most);
  const net = await startBenchNetwork(env, 'scale', {
    DAN_AGENTS_DIR: dir, DAN_DOMAIN_CONCURRENCY: String(CONCURRENCY), DAN_MAX_INSTANCES_PER_DOMAIN: '1', DAN_MAX_DOMAIN_AGENTS: String(most),
  });
  try {
    env.progress(`scale: starting ${most} domains`);
    // Four at a time: sixteen node processes starting at once on a small machine can outlast the
    // spawn timeout, and start-up is not what this scenario measures.
    for (let first = 0; first < most; first += 4) {
      const group = names.slice(first, first + 4);
      await net.echo((i) => group[i % group.length] as string, group.length * 4, `scale-warm-${first}`);
    }
    const rates: Record<string, number> = {};
    for (const count of domainCounts) {
      env.progress(`scale: ${tasks} echo tasks over ${count} domain(s)`);
      const started = performance.now();
      const ids = await net.echo((i) => names[i % count] as string, tasks, `scale-${count}`);
      const last = Math.max(...ids.map((id) => net.events.finished.get(id)?.ms ?? performance.now()));
      rates[String(count)] = round(tasks / ((last - started) / 1000));
    }
    return { tasks, tasks_per_s: rates };
  } finally {
    await net.stop();
  }
}
