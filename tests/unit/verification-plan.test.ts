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
    const count = (f: PlannedTask['failures']) => plan.filter((t) => t.failures === f).length;
    expect([count(0), count(1), count(2), count('never')]).toEqual([8, 6, 3, 3]);
    expect(planTasks(20, 2026)).toEqual(plan);
    expect(planTasks(20, 7).map((t) => t.failures)).not.toEqual(plan.map((t) => t.failures));
  });

  it('expects a task repaired within the rounds to complete, and one that is never right, or right too late, to fail', () => {
    expect(expectedOutcome(0, 3)).toEqual({ status: 'completed', rounds: 1 });
    expect(expectedOutcome(2, 3)).toEqual({ status: 'completed', rounds: 3 });
    expect(expectedOutcome(2, 2)).toEqual({ status: 'failed', rounds: 2 });
    expect(expectedOutcome('never', 3)).toEqual({ status: 'failed', rounds: 3 });
  });

  it('has the worker repair its code only once the failed check has shown it the attempts it got wrong', () => {
    const twice: PlannedTask = { key: 'vb-4', failures: 2 };
    const engine = new RuleEngine(verificationRules([twice, { key: 'vb-5', failures: 'never' }]));
    expect(written(engine, `Task: ${describeTask(twice)}`)).toMatch(/a - b; \/\/ broken attempt 1/);
    expect(written(engine, repairRound(twice, 'module.exports = (a, b) => a - b; // broken attempt 1\nsum(2, 3) should be 5'))).toMatch(/broken attempt 2/);
    expect(written(engine, repairRound(twice, 'module.exports = (a, b) => a - b; // broken attempt 2'))).toMatch(/a \+ b; \/\/ fixed at attempt 3/);
    // Without the check's output the worker cannot know it failed before.
    expect(written(engine, `Task: ${describeTask(twice)}`)).toMatch(/broken attempt 1/);
    const never: PlannedTask = { key: 'vb-5', failures: 'never' };
    expect(written(engine, repairRound(never, '// broken attempt 9'))).toMatch(/broken attempt 10/);
  });
});
