import type { DomainDefinition, WorkerDefinition } from '../../lib/agents/agent-definitions.js';
import { memoryBlock } from '../../lib/elf/elf-context.js';
import type { Task } from '../../lib/protocol/task.js';
import type { PriorWork } from './worker-runtime.js';
import type { FailedCheck } from '../../lib/checks/task-checks.js';

/**
 * The stable part of a worker's prompt: its definition, its domain's, and the house rules. It does
 * not change between tasks, so it is cached. The `Worker:` and `Domain:` lines are also what the
 * local model server's default rules key on.
 */
export function workerSystemPrompt(domain: DomainDefinition, worker: WorkerDefinition, workspaceRoot: string): string {
  return [
    worker.prompt.trim(),
    '',
    '---',
    `Worker: ${worker.name}`,
    `Domain: ${domain.name}`,
    `Tools: ${worker.tools.join(', ')}`,
    '',
    `## The ${domain.name} domain`,
    domain.prompt.trim(),
    '',
    '## Rules of the network',
    `- Every path is inside the workspace (${workspaceRoot}); use paths relative to it. Paths outside are refused.`,
    '- Read before you edit; keep changes focused on the task; do not touch files other workers own unless the task needs it.',
    '- When you are done, reply with only a JSON object: {"summary": "<one or two sentences>", "files_created": [...], "files_modified": [...], "notes": "<optional>"}.',
  ].join('\n');
}

/**
 * The task-specific first message: what to do, with what earlier steps and workers produced, and
 * what the network's memory knows that bears on it.
 */
export function workerPrompt(task: Task, prior: PriorWork[], memory?: string): string {
  const parts = [`Task: ${task.description}`];
  if (task.requirements.length > 0) parts.push('', 'Requirements:', ...task.requirements.map((r) => `- ${r}`));
  const { depends_on_results: earlier, failed_checks: failed, review_comments: review, ...context } = task.context;
  if (earlier && typeof earlier === 'object') {
    parts.push('', 'Done before this task (by other domains):');
    for (const [domain, value] of Object.entries(earlier as Record<string, { summary?: string; files_created?: string[]; status?: string; branch?: string }>)) {
      const files = value.files_created?.length ? ` Files: ${value.files_created.join(', ')}.` : '';
      // A task it waited on with run_if always may not have completed; its branch holds its work.
      const status = value.status !== undefined && value.status !== 'completed' ? ` (${value.status})` : '';
      const branch = typeof value.branch === 'string' ? ` Branch: ${value.branch}.` : '';
      parts.push(`- ${domain}${status}: ${value.summary ?? ''}${files}${branch}`);
    }
  }
  if (prior.length > 0) {
    parts.push('', 'Done by other workers of this task:');
    for (const p of prior) parts.push(`- ${p.worker}: ${p.summary}${p.files_created.length ? ` Files: ${p.files_created.join(', ')}.` : ''}`);
  }
  if (Array.isArray(failed) && failed.length > 0) parts.push('', ...failedChecksBlock(failed as FailedCheck[]));
  if (Array.isArray(review) && review.length > 0) parts.push('', ...reviewBlock(review as ReviewComment[]));
  const contextKeys = Object.keys(context).filter((k) => k !== 'parent_task_id');
  if (contextKeys.length > 0) parts.push('', 'Context (JSON):', JSON.stringify(Object.fromEntries(contextKeys.map((k) => [k, context[k]])), null, 2));
  if (memory && memory.trim() !== '') parts.push('', memoryBlock(memory));
  return parts.join('\n');
}

interface ReviewComment { file: string; line?: number; text: string }

/** A round's news when the domain's reviewer requested changes; the first line is what the local model server's rules key on. */
function reviewBlock(comments: readonly ReviewComment[]): string[] {
  return ['Changes the reviewer requested after the last round (make them, then answer as before):',
    ...comments.map((c) => `- ${c.file}${c.line === undefined ? '' : `:${c.line}`}: ${c.text}`)];
}

/**
 * A repair round's news: the checks that failed after the last round, each with its exit code and the
 * tail of its output. The first line is what the local model server's rules key on.
 */
function failedChecksBlock(failed: readonly FailedCheck[]): string[] {
  const lines = ['Checks that failed after the last round (the work is done only when every check passes; fix the cause, not the check):'];
  for (const f of failed) {
    lines.push(`- \`${f.command}\` ended with ${f.exit_code === null ? 'no exit code (killed or not started)' : `exit code ${f.exit_code}`}; the end of its output:`, '```', f.output_tail, '```');
  }
  return lines;
}
