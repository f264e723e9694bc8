import { configDefaults, defineConfig } from 'vitest/config';
import { SlowFirstSequencer } from './tests/support/slow-first-sequencer.js';

// `docker swarm init` and `swarm leave` change the whole engine (the bench's Swarm row and every other
// Docker test use it), so the Swarm spawner's file runs alone, after the rest.
const SWARM_FILES = ['tests/docker/swarm-spawner.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['tests/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Files run 3 at a time, even on 2 cores: most integration and Docker tests wait on child
    // processes, Redis and containers. Tests share one Redis under their own key prefixes and use
    // free ports and unique names, so files do not depend on running alone.
    maxWorkers: 3,
    minWorkers: 1,
    sequence: { sequencer: SlowFirstSequencer },
    reporters: ['default'],
    // `include` lives in each project: a project that extends this one would add to a list set here.
    projects: [
      { extends: true, test: { name: 'suite', include: ['tests/**/*.test.ts'], exclude: [...configDefaults.exclude, ...SWARM_FILES], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'swarm', include: SWARM_FILES, sequence: { groupOrder: 1 } } },
    ],
  },
});
