import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { findCycle, MAX_WORKFLOW_STEPS } from '../../lib/protocol/workflow.js';
import { parseWorkflow } from '../../lib/protocol/workflow-file.js';
import { graphLines, graphOf } from '../../src/operations/workflows.js';

const problemsOf = (text: string) => {
  const parsed = parseWorkflow(text);
  if (parsed.ok) throw new Error('expected the file to be refused');
  return parsed.problems;
};

describe('workflow files', () => {
  it('read the example: steps with domains, needs, run_if and metadata', () => {
    const parsed = parseWorkflow(readFileSync(new URL('../../examples/workflow.yaml', import.meta.url), 'utf8'));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    expect(parsed.workflow.name).toBe('user-registration');
    expect(parsed.workflow.steps.map((s) => [s.name, s.domain, s.needs, s.runIf])).toEqual([
      ['schema', 'backend', [], 'success'],
      ['api', 'backend', ['schema'], 'success'],
      ['form', 'frontend', ['schema'], 'success'],
      ['docs', 'main', ['api', 'form'], 'success'],
      ['report', 'main', ['docs'], 'always'],
    ]);
    expect(parsed.workflow.steps[1]?.metadata).toEqual({ verify: ['npm test'] });
  });

  it('refuse an unknown key, a missing step and a bad run_if, each with its line and the fix', () => {
    const problems = problemsOf(['name: w', 'steps:', '  a:', '    description: x', '    need: b', '  b:', '    description: y', '    needs: [c]', '    run_if: sometimes'].join('\n'));
    expect(problems).toEqual(expect.arrayContaining([
      { line: 5, message: expect.stringMatching(/step 'a': unknown key 'need': a step takes domain, description, needs/) },
      { line: 9, message: expect.stringMatching(/'run_if:' must be success .* or always/) },
    ]));
    expect(problemsOf(['name: w', 'steps:', '  a: {description: x, needs: [zz]}'].join('\n'))[0]).toEqual({ line: 3, message: expect.stringMatching(/needs 'zz', which is not a step of this file: add that step, or fix the name/) });
  });

  it('refuse a cycle, naming it, and duplicate step names', () => {
    const cycle = problemsOf(['name: w', 'steps:', '  a: {description: x, needs: c}', '  b: {description: y, needs: a}', '  c: {description: z, needs: b}'].join('\n'));
    expect(cycle).toEqual([{ line: 3, message: expect.stringMatching(/form a cycle \(a -> c -> b -> a\): remove one of these needs/) }]);
    const duplicate = problemsOf(['name: w', 'steps:', '  a: {description: x}', '  a: {description: y}'].join('\n'));
    expect(duplicate[0]).toEqual({ line: 4, message: expect.stringMatching(/unique.*give each step .* a name of its own/i) });
  });

  it('refuse 10,000 steps by their count, before reading any of them', () => {
    const lines = ['name: big', 'steps:', ...Array.from({ length: 10_000 }, (_, i) => `  s${i}: {description: step ${i}}`)];
    expect(problemsOf(lines.join('\n'))).toEqual([{ line: 3, message: expect.stringContaining(`10000 steps, over the limit of ${MAX_WORKFLOW_STEPS}`) }]);
  });

  it('find cycles in long chains without recursion, and none in a diamond', () => {
    const chain = Array.from({ length: 5000 }, (_, i) => ({ id: `n${i}`, after: i === 0 ? ['n4999'] : [`n${i - 1}`] }));
    expect(findCycle(chain)?.length).toBe(5001);
    expect(findCycle([{ id: 'a', after: [] }, { id: 'b', after: ['a'] }, { id: 'c', after: ['a'] }, { id: 'd', after: ['b', 'c'] }])).toBeUndefined();
  });

  it('draw a graph with each step after what it needs, indented by depth', () => {
    const graph = graphOf('w', [
      { taskId: 'w.d', status: 'waiting', dependsOn: ['w.b', 'w.c'] },
      { taskId: 'w.a', status: 'completed', dependsOn: [] },
      { taskId: 'w.b', status: 'in_progress', dependsOn: ['w.a'] },
      { taskId: 'w.c', status: 'failed', dependsOn: ['w.a'], error: 'boom' },
    ]);
    expect(graphLines(graph)).toEqual(['a [completed]', '  b [in_progress] needs a', '  c [failed] needs a - boom', '    d [waiting] needs b, c']);
  });
});
