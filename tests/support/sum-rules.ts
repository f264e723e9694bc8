import type { Rule } from '../../lib/llm/local-server/rules.js';

/** A check that passes only once sum.js holds the repaired code. */
export const SUM_CHECK = 'cat sum.js && grep -q fixed sum.js';

/**
 * A worker that writes `sum.js` as "broken" on a first try; on a task marked "repairable" it writes
 * "fixed" once the failed check's output comes back, and on any other it never learns.
 */
export const sumWorkerRules: Rule[] = [
  {
    name: 'fix once the check failed',
    when: { lastUser: '^Task: repairable[\\s\\S]*Checks that failed after the last round', hasToolResult: false, tool: 'Write' },
    reply: { tool_use: [{ name: 'Write', input: { file_path: 'sum.js', content: 'module.exports = (a, b) => a + b; // fixed\n' } }] },
  },
  {
    name: 'first try: broken code',
    when: { lastUser: '^Task: ', hasToolResult: false, tool: 'Write' },
    reply: { tool_use: [{ name: 'Write', input: { file_path: 'sum.js', content: 'module.exports = (a, b) => a - b; // broken\n' } }] },
  },
];
