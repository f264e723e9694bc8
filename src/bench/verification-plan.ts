import type { Rule } from '../../lib/llm/local-server/rules.js';
import { SeededRandom } from '../chaos/seeded-random.js';

/**
 * The check every task of the verification scenario runs: it prints the worker's `sum.js` (so a failed
 * round's output shows the code that failed) and runs it. Exit 0 only when `sum(2, 3)` is 5.
 */
export const SUM_CHECK = 'cat sum.js && node -e \'if (require("./sum.js")(2, 3) !== 5) { console.log("sum(2, 3) should be 5"); process.exit(1); }\'';

/** How many rounds a task's worker gets wrong before it writes working code; `never` stays wrong. */
export type Failures = 0 | 1 | 2 | 'never';

/** One task of the scenario: its key (in its description) and what the scripted worker will do. */
export interface PlannedTask {
  key: string;
  failures: Failures;
}

// One kind in three passes at once, one in three is repaired after a failed round, one in six after
// two, and one in six never: every outcome the checks can have, in a few dozen tasks.
const KINDS: readonly Failures[] = [0, 0, 1, 1, 2, 'never'];

/**
 * The scenario's tasks: the kinds above dealt out evenly over `count` tasks, then shuffled with a
 * seeded generator, so the same seed gives the same tasks in the same order and every kind appears
 * once there are at least six.
 */
export function planTasks(count: number, seed: number): PlannedTask[] {
  const kinds = Array.from({ length: count }, (_, i) => KINDS[i % KINDS.length] as Failures);
  const random = new SeededRandom(seed);
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [kinds[i], kinds[j]] = [kinds[j] as Failures, kinds[i] as Failures];
  }
  return kinds.map((failures, i) => ({ key: `vb-${i}`, failures }));
}

/** The description a planned task is sent with; the worker's rules find the task's key in it. */
export function describeTask(task: PlannedTask): string {
  return `Write sum.js exporting sum(a, b) (verification bench ${task.key})`;
}

/** The rounds a plan should take and how it should end, with `rounds` worker rounds allowed. */
export function expectedOutcome(failures: Failures, rounds: number): { status: 'completed' | 'failed'; rounds: number } {
  if (failures === 'never' || failures >= rounds) return { status: 'failed', rounds };
  return { status: 'completed', rounds: failures + 1 };
}

/**
 * The scripted worker of the scenario, ahead of the default rules. Its first turn writes `sum.js`:
 * wrong (`a - b`, marked `broken attempt N`) while its task's plan says so, else right. It learns which
 * attempt it is on only from the failed check's output that the next round's first message carries
 * (the check prints the file, `broken attempt N` included), so a repair happens only because the
 * check's output came back. Its second turn reports the file.
 */
export function verificationRules(plan: readonly PlannedTask[]): Rule[] {
  const failuresOf = new Map(plan.map((t) => [t.key, t.failures]));
  return [
    {
      name: 'verification bench: write sum.js',
      when: { anyText: 'verification bench vb-\\d+', hasToolResult: false, tool: 'Write' },
      reply: ({ facts }) => {
        const key = /verification bench (vb-\d+)/.exec(facts.task)?.[1] ?? '';
        const failures = failuresOf.get(key) ?? 0;
        const before = Number(/broken attempt (\d+)/.exec(facts.lastUser)?.[1] ?? 0);
        const attempt = before + 1;
        const broken = failures === 'never' || attempt <= failures;
        const content = broken
          ? `module.exports = (a, b) => a - b; // broken attempt ${attempt}\n`
          : `module.exports = (a, b) => a + b; // fixed at attempt ${attempt}\n`;
        return { tool_use: [{ name: 'Write', input: { file_path: 'sum.js', content } }] };
      },
    },
    {
      name: 'verification bench: done',
      when: { anyText: 'verification bench vb-\\d+', hasToolResult: true },
      reply: { text: '{"summary": "wrote sum.js", "files_created": ["sum.js"], "files_modified": []}' },
    },
  ];
}
