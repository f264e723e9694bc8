import { z } from 'zod';
import { toFailure } from '../../errors.js';
import { ToolError } from './tool-error.js';
import { parseToolInput, type WorkerTool } from './worker-tool.js';

const inputSchema = z.object({
  rule: z.string().trim().min(1, { error: 'copy the rule as your memory block shows it' }).max(1_000, { error: 'a rule is at most 500 characters; copy just the rule' }),
  reason: z.string().max(2_000).optional(),
});

/** Tells the memory a rule this task was shown did not hold, and answers with what happens next. */
export type ContradictHeuristic = (input: { rule: string; reason?: string }) => Promise<string>;

/**
 * elf_contradict_heuristic: lets the model say that a lesson of its memory block was wrong for this
 * task ("the migrations here run from the seed script"). The model's word lowers nothing by itself:
 * the claim waits for the task's outcome, and only a task that completes after going against the
 * rule contradicts it (c - 0.15c instead of the validation the rule would get). Only rules the task
 * was shown can be named.
 */
export function createElfContradictHeuristicTool(contradict: ContradictHeuristic): WorkerTool {
  return {
    definition: {
      name: 'elf_contradict_heuristic',
      description:
        'Reports that a lesson from your memory block does not hold for this task and that you are going against it. ' +
        'Copy the rule as shown. It counts against the lesson only if your task then completes.',
      input_schema: {
        type: 'object',
        properties: {
          rule: { type: 'string', description: 'The lesson, copied from the memory block' },
          reason: { type: 'string', description: 'Why it does not hold here (optional)' },
        },
        required: ['rule'],
      },
    },
    async run(input) {
      const parsed = parseToolInput('elf_contradict_heuristic', inputSchema, input);
      try {
        return await contradict(parsed.reason ? { rule: parsed.rule, reason: parsed.reason } : { rule: parsed.rule });
      } catch (error) {
        throw new ToolError(`the memory did not take it: ${toFailure(error).message}`);
      }
    },
  };
}
