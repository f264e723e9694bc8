import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import type { Rule } from '../../lib/llm/local-server/rules.js';
import type { SeededRandom } from './seeded-random.js';

/**
 * The local model server's default behaviour (every worker writes a real file and answers with a
 * JSON summary), except that each worker turn answers after `minMs`..`maxMs`: a task then takes a
 * second or more, so there is always work in flight when an agent is killed or Redis restarts.
 */
export function chaosRules(random: SeededRandom, minMs: number, maxMs: number): Rule[] {
  return defaultRules().map((rule): Rule => {
    if (!rule.name.startsWith('worker-')) return rule;
    const reply = rule.reply;
    return {
      ...rule,
      name: `${rule.name}-slow`,
      reply: (match) => ({ ...(typeof reply === 'function' ? reply(match) : reply), delay_ms: random.int(minMs, maxMs) }),
    };
  });
}
