import type { Redis } from 'ioredis';
import { toFailure } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { repositoryOf } from '../../lib/elf/elf-repository.js';
import type { ElfStores } from '../../lib/elf/elf-stores.js';
import { readFailure, teachesAboutWork } from '../../lib/protocol/failure.js';
import type { Keys } from '../../lib/redis/keys.js';
import { readResultFields } from '../../lib/redis/result-fields.js';

interface FinishedOutput {
  workers_used?: unknown;
  files_created?: unknown;
  files_modified?: unknown;
  files_read?: unknown;
  usage?: { input_tokens?: unknown; output_tokens?: unknown };
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
const count = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

/**
 * Learns from one `task.finished` event: records the outcome (status, domain, workers, duration,
 * files, error, tokens) from the event and the task's result hash, then credits the heuristics that
 * were injected into its workers' prompts. Recording is idempotent, so a replayed event is harmless.
 */
export interface FailedTask {
  clientId: string;
  taskId: string;
  domain: string;
  description: string;
  error: string;
}

export async function recordFinishedTask(
  fields: Record<string, string>,
  deps: { redis: Redis; keys: Keys; stores: ElfStores; logger: Logger; learnsFrom: (domain: string) => boolean; onFailed?: (failed: FailedTask) => void },
): Promise<void> {
  if (fields['type'] !== 'task.finished') return;
  const taskId = fields['task_id'];
  const domain = fields['domain'] ?? '';
  const status = fields['status'];
  if (!taskId || !deps.learnsFrom(domain) || (status !== 'completed' && status !== 'failed')) return;
  try {
    const clientId = fields['client'] ?? 'default';
    const memory = deps.stores.get(clientId);
    const result = await readResultFields(deps.redis, deps.keys, taskId);
    let output: FinishedOutput & { failure?: unknown } = {};
    try {
      output = JSON.parse(result['output'] ?? '{}') as FinishedOutput;
    } catch {
      // A client wrote something that is not JSON: the outcome is recorded without the details.
    }
    const started = Date.parse(result['started_at'] ?? '');
    const ended = Date.parse(result['completed_at'] ?? fields['at'] ?? '');
    const error = status === 'failed' ? (fields['error'] || result['error'] || null) : null;
    const isNew = memory.recordOutcome({
      taskId, domain, status,
      parentId: fields['parent'] ?? null,
      description: fields['description'] ?? '',
      error,
      workers: strings(output.workers_used),
      filesCreated: strings(output.files_created),
      filesModified: strings(output.files_modified),
      filesRead: strings(output.files_read),
      durationMs: Number.isFinite(started) && Number.isFinite(ended) ? ended - started : null,
      inputTokens: count(output.usage?.input_tokens),
      outputTokens: count(output.usage?.output_tokens),
      ...(fields['at'] ? { finishedAt: fields['at'] } : {}),
      // The same rule the worker's context used, so its trails land where later contexts look.
      repository: repositoryOf({ path: fields['context_path'], workspace: fields['context_workspace'] }),
    });
    // A task a person cancelled, input refused before any work, or a failure of the infrastructure (see
    // teachesAboutWork) says nothing about its approach: nothing to learn or blame. A failure without a
    // code (written by an older agent or a raw client) is unknown and taught like any other.
    const failure = status === 'failed' ? readFailure(output) : undefined;
    if (failure && !teachesAboutWork(failure.code)) return;
    // A parent fails because a child did; the child's own failure is the one to learn from.
    if (isNew && error && domain !== 'main') deps.onFailed?.({ clientId, taskId, domain, description: fields['description'] ?? '', error });
    const credited = memory.creditTask(taskId, status);
    if (credited.length > 0) deps.logger.info({ taskId, status, heuristics: credited }, status === 'completed' ? 'validated the heuristics this task was shown' : 'violated the heuristics this task was shown');
  } catch (error) {
    // One bad event (an unknown client, say) must not stop the learning from the others.
    deps.logger.warn({ taskId, err: toFailure(error).message }, 'could not learn from a finished task');
  }
}
