import { describe, expect, it } from 'vitest';
import { RuleEngine } from '../../lib/llm/local-server/rule-engine.js';
import type { LlmRequest } from '../../lib/llm/types.js';
import { describeTask, expectedOutcome, planTasks, verificationRules, type PlannedTask } from '../../src/bench/verification-plan.js';

const writeTool = { name: 'Write', description: 'w', input_schema: { type: 'object' as const, properties: {} } };
const firstTurn = (text: string): LlmRequest => ({ model: 'claude-sonnet-5-5', max_tokens: 100, messages: [{ role: 'user', content: text }], tools: [writeTool] });

/** What the scripted worker writes into sum.js for this first message. */
function written(engine: RuleEngine, text: string): string {
  const call = engine.decide(firstTurn(text)).reply.tool_use?.[0];
  return String(call?.input['content'] ?? '');
}

/** A repair round's first message as the worker prompt renders it, with the check's output. */
const repairRound = (task: PlannedTask, output: string) =>
  `Task: ${describeTask(task)}\n\nChecks that failed after the last round (fix the cause, not the check):\n- \`check\` ended with exit code 1; the end of its output:\n\`\`\`\n${output}\n\`\`\``;

describe("the bench's verification plan", () => {
  it('deals every kind out evenly, in an order the seed alone decides', () => {
    const plan = planTasks(20, 2026);
    expect(plan.map((t) => t.key)).toEqual(Array.from({ length: 20 }, (_, i) => `vb-${i}`));
    const count = (f: PlannedTask['failures'], review: boolean) => plan.filter((t) => t.failures === f && t.review === review).length;
    expect([count(0, false), count(1, false), count(2, false), count('never', false)]).toEqual([6, 4, 2, 2]);
    expect([count(0, true), count(1, true), count(2, true), count('never', true)]).toEqual([2, 2, 2, 0]);
    expect(planTasks(20, 2026)).toEqual(plan);
    expect(planTasks(20, 7).map((t) => t.failures)).not.toEqual(plan.map((t) => t.failures));
  });

  it('expects a task repaired within the rounds to complete, and one whose check or review still stands in the last round to fail with its code', () => {
    expect(expectedOutcome({ failures: 0, review: false }, 3)).toEqual({ status: 'completed', rounds: 1 });
    expect(expectedOutcome({ failures: 2, review: false }, 3)).toEqual({ status: 'completed', rounds: 3 });
    expect(expectedOutcome({ failures: 2, review: false }, 2)).toEqual({ status: 'failed', rounds: 2, code: 'verification_failed' });
    expect(expectedOutcome({ failures: 'never', review: false }, 3)).toEqual({ status: 'failed', rounds: 3, code: 'verification_failed' });
    expect(expectedOutcome({ failures: 1, review: true }, 3)).toEqual({ status: 'completed', rounds: 3 });
    expect(expectedOutcome({ failures: 2, review: true }, 3)).toEqual({ status: 'failed', rounds: 3, code: 'changes_requested' });
  });

  it('has the worker repair its code only once the failed check has shown it the attempts it got wrong', () => {
    const twice: PlannedTask = { key: 'vb-4', failures: 2, review: false };
    const engine = new RuleEngine(verificationRules([twice, { key: 'vb-5', failures: 'never', review: false }]));
    expect(written(engine, `Task: ${describeTask(twice)}`)).toMatch(/a - b; \/\/ broken attempt 1/);
    expect(written(engine, repairRound(twice, 'module.exports = (a, b) => a - b; // broken attempt 1\nsum(2, 3) should be 5'))).toMatch(/broken attempt 2/);
    expect(written(engine, repairRound(twice, 'module.exports = (a, b) => a - b; // broken attempt 2'))).toMatch(/a \+ b; \/\/ fixed at attempt 3/);
    // Without the check's output the worker cannot know it failed before.
    expect(written(engine, `Task: ${describeTask(twice)}`)).toMatch(/broken attempt 1/);
    const never: PlannedTask = { key: 'vb-5', failures: 'never', review: false };
    expect(written(engine, repairRound(never, '// broken attempt 9'))).toMatch(/broken attempt 10/);
  });

  it('has the reviewer ask for one change in the round the check first passes, and the worker keep its fix in answer', () => {
    const once: PlannedTask = { key: 'vb-7', failures: 1, review: true };
    const plain: PlannedTask = { key: 'vb-8', failures: 1, review: false };
    const engine = new RuleEngine(verificationRules([once, plain]));
    const review = (task: PlannedTask, round: number, attempt: string) => JSON.parse(engine.decide({
      model: 'claude-sonnet-5-5', max_tokens: 100, system: [{ type: 'text', text: 'You are dan-reviewer, the reviewer' }],
      messages: [{ role: 'user', content: `Task: ${describeTask(task)}\nRound: ${round}\n\nChanges:\n--- sum.js\nmodule.exports = (a, b) => a + b; // ${attempt}` }],
    }).reply.text ?? '{}') as { verdict: string; comments: { file: string; text: string }[] };
    expect(review(once, 2, 'fixed at attempt 2')).toMatchObject({ verdict: 'request_changes', comments: [{ file: 'sum.js' }] });
    expect(review(once, 3, 'fixed at attempt 3').verdict).toBe('approve');
    expect(review(plain, 2, 'fixed at attempt 2').verdict).toBe('approve');
    const comment = review(once, 2, 'fixed at attempt 2').comments[0]?.text ?? '';
    const answer = `Task: ${describeTask(once)}\n\nReview comments on the last round:\n- sum.js:1 ${comment}`;
    expect(written(engine, answer)).toMatch(/a \+ b; \/\/ fixed at attempt 3/);
  });
});
