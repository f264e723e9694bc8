#!/usr/bin/env node
import { DanError } from '../../lib/errors.js';
import { connectDocker } from '../../lib/spawner/docker-spawner.js';
import type { ChaosOptions } from './chaos-options.js';
import { CHAOS_USAGE, parseChaosArgs } from './chaos-options.js';
import type { ChaosRunReport, SkippedRun } from './chaos-report.js';
import { combineReports, formatReport } from './chaos-report.js';
import { runChaos } from './chaos-run.js';

/**
 * `npm run chaos`: the chaos suite of the reliability issue, with the process spawner, the Docker
 * spawner or both, or the Swarm spawner (replicas' containers killed). Progress goes to stderr; the report (tables, or `--json`) to stdout. Exit 0 when
 * every check and goal passed, 1 when any failed, 2 on bad usage.
 */
async function main(argv: string[]): Promise<number> {
  let options: ChaosOptions;
  try {
    options = parseChaosArgs(argv);
  } catch (error) {
    process.stderr.write(`chaos: ${(error as Error).message}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${CHAOS_USAGE}\n`);
    return 0;
  }
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  progress(`chaos: seed ${options.seed}, ${options.tasks} tasks, ${options.malformed} malformed messages, a kill every ${options.killEveryMs} ms`);
  const runs: (ChaosRunReport | SkippedRun)[] = [];
  const attempt = async (kind: 'process' | 'docker' | 'swarm') => {
    try {
      runs.push(await runChaos(kind, options, progress));
    } catch (error) {
      progress(`chaos: the ${kind} run broke off: ${(error as Error).message}`);
      runs.push({ spawner: kind, error: (error as Error).message });
    }
  };
  if (options.spawner === 'process' || options.spawner === 'both') await attempt('process');
  if (options.spawner !== 'process') {
    const kind = options.spawner === 'swarm' ? 'swarm' : 'docker';
    const problem = await dockerProblem();
    if (problem) {
      progress(`chaos: the ${kind} run is skipped: ${problem}`);
      runs.push({ spawner: kind, skipped: problem });
    } else {
      await attempt(kind);
    }
  }
  const report = combineReports(options.seed, options.quick, runs);
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return report.passed ? 0 : 1;
}

/** Why no Docker engine answers, or '' when one does (5 s at most: a dead DOCKER_HOST must not stall the run). */
async function dockerProblem(): Promise<string> {
  const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('no answer from the Docker engine within 5 s'), 5_000).unref());
  return Promise.race([connectDocker().then(() => '', (error: Error) => error.message), timeout]);
}

main(process.argv.slice(2)).then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`chaos: ${error instanceof DanError ? error.message : error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(error instanceof DanError ? error.exitCode : 1);
});
