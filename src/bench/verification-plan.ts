import type { Rule } from '../../lib/llm/local-server/rules.js';
import { SeededRandom } from '../chaos/seeded-random.js';

/**
 * The check every task of the verification scenario runs: it prints the worker's `sum.js` (so a failed
 * round's output shows the code that failed) and runs it. Exit 0 only when `sum(2, 3)` is 5.
 */
export const SUM_CHECK = 'cat sum.js && node -e \'if (require("./sum.js")(2, 3) !== 5) { console.log("sum(2, 3) should be 5"); process.exit(1); }\'';

/** How many rounds a task's worker gets wrong before it writes working code; `never` stays wrong. */
export type Failures = 0 | 1 | 2 | 'never';

/**
 * One task of the scenario: its key (in its description), what the scripted worker will do, and
 * whether the scripted reviewer asks for one change in the first round whose check passes.
 */
export interface PlannedTask {
  key: string;
  failures: Failures;
  review: boolean;
}

type Kind = Omit<PlannedTask, 'key'>;

// Every outcome checks and a review can have, in a few dozen tasks: right at once, repaired after one
// or two failed checks, never right; and the first three again with a review that asks for a change
// once, which the last of them draws in its final round (it ends `changes_requested`).
const KINDS: readonly Kind[] = [
  { failures: 0, review: false }, { failures: 0, review: false }, { failures: 1, review: false }, { failures: 1, review: false },
  { failures: 2, review: false }, { failures: 'never', review: false },
  { failures: 0, review: true }, { failures: 1, review: true }, { failures: 2, review: true },
];

/**
 * The scenario's tasks: the kinds above dealt out evenly over `count` tasks, then shuffled with a
 * seeded generator, so the same seed gives the same tasks in the same order and every kind appears
 * once there are at least as many tasks as kinds.
 */
export function planTasks(count: number, seed: number): PlannedTask[] {
  const kinds = Array.from({ length: count }, (_, i) => KINDS[i % KINDS.length] as Kind);
  const random = new SeededRandom(seed);
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [kinds[i], kinds[j]] = [kinds[j] as Kind, kinds[i] as Kind];
  }
  return kinds.map((kind, i) => ({ key: `vb-${i}`, ...kind }));
}

/** The description a planned task is sent with; the worker's rules find the task's key in it. */
export function describeTask(task: PlannedTask): string {
  return `Write sum.js exporting sum(a, b) (verification bench ${task.key})`;
}

/** The round whose check first passes, and in which the scripted reviewer asks for its change; undefined: never. */
export function firstPassingRound(failures: Failures): number | undefined {
  return failures === 'never' ? undefined : failures + 1;
}

/**
 * The rounds a planned task should take and how it should end, with `rounds` worker rounds allowed:
 * a check still failing in the last round ends it `verification_failed`, a review request standing
 * after the last round `changes_requested`.
 */
export function expectedOutcome(task: Kind, rounds: number): { status: 'completed' | 'failed'; rounds: number; code?: 'verification_failed' | 'changes_requested' } {
  const passing = firstPassingRound(task.failures);
  if (passing === undefined || passing > rounds) return { status: 'failed', rounds, code: 'verification_failed' };
  const needed = passing + (task.review ? 1 : 0);
  if (needed > rounds) return { status: 'failed', rounds, code: 'changes_requested' };
  return { status: 'completed', rounds: needed };
}

/**
 * The scripted worker and reviewer of the scenario, ahead of the default rules.
 *
 * The worker's first turn writes `sum.js`: wrong (`a - b`, marked `broken attempt N`) while its task's
 * plan says so, else right (marked `fixed at attempt N`). It learns which attempt it is on only from
 * what the next round's first message carries: the failed check's output (the check prints the file)
 * or the reviewer's comment (which quotes the attempt it read). So a repair happens only because the
 * check's output or the review came back. Its second turn reports the file.
 *
 * The reviewer approves, except in the round a reviewed task's check first passes, where it asks for
 * one change (the default rules' reviewer would ask in round 1, before any check has passed).
 */
export function verificationRules(plan: readonly PlannedTask[]): Rule[] {
  const byKey = new Map(plan.map((t) => [t.key, t]));
  const keyOf = (text: string) => /verification bench (vb-\d+)/.exec(text)?.[1] ?? '';
  return [
    {
      name: 'verification bench: review',
      when: { system: 'dan-reviewer', anyText: 'verification bench vb-\\d+' },
      reply: ({ facts }) => {
        const task = byKey.get(keyOf(facts.lastUser));
        const round = Number(/^Round:\s*(\d+)/m.exec(facts.lastUser)?.[1] ?? 0);
        const read = /(?:broken|fixed at) attempt \d+/.exec(facts.lastUser)?.[0] ?? 'no attempt';
        const asks = task?.review === true && round === firstPassingRound(task.failures);
        return {
          text: JSON.stringify(asks
            ? { verdict: 'request_changes', summary: 'One change first.', comments: [{ file: 'sum.js', line: 1, text: `Keep the sum, and say which task it is for (read: ${read}).` }] }
            : { verdict: 'approve', summary: `Approved (read: ${read}).`, comments: [] }),
        };
      },
    },
    {
      name: 'verification bench: write sum.js',
      when: { anyText: 'verification bench vb-\\d+', hasToolResult: false, tool: 'Write' },
      reply: ({ facts }) => {
        const failures = byKey.get(keyOf(facts.task))?.failures ?? 0;
        const before = Number(/(?:broken|fixed at) attempt (\d+)/.exec(facts.lastUser)?.[1] ?? 0);
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
