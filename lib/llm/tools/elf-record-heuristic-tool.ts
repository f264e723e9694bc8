import { z } from 'zod';
import { toFailure } from '../../errors.js';
import { ToolError } from './tool-error.js';
import { parseToolInput, type WorkerTool } from './worker-tool.js';

const inputSchema = z.object({
  rule: z.string().trim().min(1, { error: 'write the lesson as one sentence' }).max(500, { error: 'keep a rule to 500 characters' }),
  context: z.string().max(2_000).optional(),
});

/** Records a lesson in the network's memory and answers with what was stored. */
export type RecordHeuristic = (input: { rule: string; context?: string }) => Promise<string>;

/**
 * elf_record_heuristic: lets the model write down something it learned that later tasks of this
 * domain should know ("run migrations before seeding"). It is kept as a candidate, with the task and
 * worker it came from, and reaches later prompts only once a person approves it: a model's word alone
 * must not steer other tasks. Approved, it rises or falls with the outcomes of the tasks it is shown to.
 */
export function createElfRecordHeuristicTool(record: RecordHeuristic): WorkerTool {
  return {
    definition: {
      name: 'elf_record_heuristic',
      description:
        "Proposes a lesson for later tasks of this domain to the network's memory: one sentence that would have helped you, " +
        'such as a convention of this codebase or the cause of an error you fixed. A person reviews it before later tasks see it. ' +
        'Not for facts about this task alone.',
      input_schema: {
        type: 'object',
        properties: {
          rule: { type: 'string', description: 'The lesson, one sentence, at most 500 characters' },
          context: { type: 'string', description: 'When it applies, or why (optional)' },
        },
        required: ['rule'],
      },
    },
    async run(input) {
      const parsed = parseToolInput('elf_record_heuristic', inputSchema, input);
      try {
        return await record(parsed.context ? { rule: parsed.rule, context: parsed.context } : { rule: parsed.rule });
      } catch (error) {
        throw new ToolError(`the memory did not take it: ${toFailure(error).message}`);
      }
    },
  };
}
