import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../src/cli/local-redis.js';

export const PROMETHEUS = '/usr/bin/prometheus';
export const PROMTOOL = '/usr/bin/promtool';

/** Why the Prometheus tests cannot run here, or undefined when they can (Debian's prometheus package). */
export function prometheusMissing(): string | undefined {
  if (existsSync(PROMETHEUS) && existsSync(PROMTOOL)) return undefined;
  return `${PROMETHEUS} or ${PROMTOOL} is missing (apt-get install prometheus)`;
}

/** One scrape job: a target `host:port` on 127.0.0.1, with a bearer key read from a file when it needs one. */
export interface ScrapeJob {
  job: string;
  target: string;
  credentialsFile?: string;
}

/** A real Prometheus on 127.0.0.1 scraping every second. */
export interface RunningPrometheus {
  url: string;
  /** The value of a PromQL query's first sample, through Prometheus' HTTP API; undefined when it has none. */
  query(promql: string): Promise<string | undefined>;
  /** The label sets of the query's samples. */
  series(promql: string): Promise<Record<string, string>[]>;
  stop(): Promise<void>;
}

interface QueryAnswer {
  status: string;
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

/** Starts Prometheus with its data and config in `dir` (the caller's temporary folder). */
export async function startPrometheus(dir: string, jobs: readonly ScrapeJob[]): Promise<RunningPrometheus> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const lines = ['global:', '  scrape_interval: 1s', 'scrape_configs:'];
  for (const j of jobs) {
    lines.push(`  - job_name: ${j.job}`, '    metrics_path: /metrics');
    if (j.credentialsFile) lines.push('    authorization:', '      type: Bearer', `      credentials_file: ${j.credentialsFile}`);
    lines.push('    static_configs:', `      - targets: ['${j.target}']`);
  }
  writeFileSync(path.join(dir, 'prometheus.yml'), `${lines.join('\n')}\n`);
  const child: ChildProcess = spawn(PROMETHEUS, [
    `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { stdio: 'ignore' });
  const ask = async (promql: string): Promise<QueryAnswer['data']['result'] | undefined> => {
    const answer = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await answer.json()) as QueryAnswer;
    return body.status === 'success' ? body.data.result : undefined;
  };
  return {
    url,
    query: async (promql) => (await ask(promql))?.[0]?.value[1],
    series: async (promql) => ((await ask(promql)) ?? []).map((r) => r.metric),
    stop: async () => {
      if (child.pid === undefined || child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
