import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that take longest (a minute or more on CI's 2 cores), longest first. Started first, they
 * overlap the many short files instead of running alone at the end of the run. Vitest's own order
 * puts files it timed before first, but CI's clean clone has no such record: it then goes by file size,
 * which puts a short file that runs a long program (chaos-docker) near the end.
 */
const SLOWEST = [
  'tests/integration/bench.test.ts',
  'tests/integration/farm-health.test.ts',
  'tests/docker/chaos-docker.test.ts',
  'tests/integration/farm-cli.test.ts',
  'tests/integration/dead-letter-cli.test.ts',
  'tests/integration/dashboard.test.ts',
  'tests/integration/elf-cli.test.ts',
  'tests/integration/cli.test.ts',
  'tests/integration/graceful-shutdown.test.ts',
  'tests/integration/farm.test.ts',
  'tests/integration/chaos.test.ts',
];

function rank(spec: TestSpecification): number {
  const at = SLOWEST.findIndex((file) => spec.moduleId.endsWith(`/${file}`));
  return at === -1 ? SLOWEST.length : at;
}

/** Vitest's order (recorded durations, else size), with the known slowest files moved to the front. */
export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    return sorted.map((spec, index) => ({ spec, index }))
      .sort((a, b) => rank(a.spec) - rank(b.spec) || a.index - b.index)
      .map(({ spec }) => spec);
  }
}
