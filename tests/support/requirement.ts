import { describe, it } from 'vitest';

/**
 * `describe` for tests that need something outside Node (a Docker engine, a browser): run when
 * `problem` is empty; otherwise skipped, with the reason in the suite's name and on stderr, or, with
 * the environment variable `required` set to 1 (as CI does), failed with the same reason.
 */
export function describeWhere(name: string, problem: string | undefined, required: string, fn: () => void): void {
  if (!problem) {
    describe(name, fn);
  } else if (process.env[required] === '1') {
    describe(name, () => {
      it(`has what it needs (${required}=1)`, () => {
        throw new Error(`${required}=1 but ${problem}`);
      });
    });
  } else {
    // The default reporter shows only a count of skipped tests: say why once, on stderr.
    console.warn(`skipping "${name}": ${problem} (set ${required}=1 to fail instead)`);
    describe.skip(`${name} (skipped: ${problem}; set ${required}=1 to fail instead)`, fn);
  }
}
