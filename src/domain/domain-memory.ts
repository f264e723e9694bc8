import type { WorkerDefinition } from '../../lib/agents/agent-definitions.js';
import type { ElfClient } from '../../lib/elf/elf-client.js';
import type { ElfContext } from '../../lib/elf/elf-protocol.js';
import { repositoryOf } from '../../lib/elf/elf-repository.js';
import { toFailure } from '../../lib/errors.js';
import type { ContradictHeuristic } from '../../lib/llm/tools/elf-contradict-heuristic-tool.js';
import type { RecordHeuristic } from '../../lib/llm/tools/elf-record-heuristic-tool.js';
import type { Task } from '../../lib/protocol/task.js';
import { filesNamed } from './files-named.js';

export { filesNamed };

/** What a domain asks of the network's memory for its workers. */
export interface DomainMemory {
  /** Context for one worker on one task; `note` is the line for the task's log. */
  context(task: Task, worker: WorkerDefinition): Promise<{ text: string; note: string }>;
  /** The `elf_record_heuristic` tool's action for a worker of this domain. */
  recorder(task: Task, worker: string): RecordHeuristic;
  /** The `elf_contradict_heuristic` tool's action: a claim the task's outcome decides. */
  contradictor(task: Task, worker: string): ContradictHeuristic;
}

/** The client id whose memory a task uses: `metadata.client_id`, else `default`. */
export function clientOf(task: Task): string {
  const id = task.metadata['client_id'];
  return typeof id === 'string' && id !== '' ? id : 'default';
}

/**
 * Memory through ELF on the bus. A context request that gets no answer in time (ELF down, slow)
 * costs the task nothing: the worker goes on without memory and the log says so. A task with
 * `context.inject_elf_context: false` gets none.
 */
export function elfDomainMemory(client: ElfClient, domain: string, options: { budgetTokens: number; timeoutMs: number }): DomainMemory {
  return {
    async context(task, worker) {
      if (task.context['inject_elf_context'] === false) return { text: '', note: 'ELF: off for this task (inject_elf_context: false)' };
      const text = [task.description, ...task.requirements].join('\n');
      try {
        const context = await client.call<ElfContext>('context', {
          domain, task: text, files: filesNamed(text), task_id: task.taskId, worker: worker.name, budget_tokens: options.budgetTokens,
          repository: repositoryOf(task.context),
        }, { clientId: clientOf(task), timeoutMs: options.timeoutMs });
        if (context.text === '') return { text: '', note: 'ELF: nothing in memory for this yet' };
        return { text: context.text, note: `ELF: ${context.heuristicIds.length} heuristic(s) in ${context.tokens} tokens injected for ${worker.name}` };
      } catch (error) {
        return { text: '', note: `ELF: no context (${toFailure(error).message}); going on without memory` };
      }
    },
    recorder(task, worker) {
      return async ({ rule, context }) => {
        const recorded = await client.call<{ id: number; confidence: number }>('record_heuristic', {
          domain, rule, ...(context ? { context } : {}), source: 'model', task_id: task.taskId, agent: worker,
        }, { clientId: clientOf(task), timeoutMs: options.timeoutMs });
        return `recorded as candidate heuristic ${recorded.id}: later tasks see it once a person approves it`;
      };
    },
    contradictor(task, worker) {
      return async ({ rule, reason }) => {
        const claimed = await client.call<{ heuristic: { id: number } }>('contradict', {
          rule, ...(reason ? { reason } : {}), source: 'model', task_id: task.taskId, agent: worker,
        }, { clientId: clientOf(task), timeoutMs: options.timeoutMs });
        return `noted against heuristic ${claimed.heuristic.id}: it is lowered if this task completes`;
      };
    },
  };
}
