import { z } from 'zod';

/** Terminal statuses are exactly these two words: clients poll for them. */
export const TERMINAL_STATUSES = ['completed', 'failed'] as const;
/** `waiting`: sent with dependencies not ended yet (lib/redis/task-dependencies.ts); queued (`pending`) once they have. */
export const TASK_STATUSES = ['waiting', 'pending', 'in_progress', 'completed', 'failed'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export function isTerminal(status: string | undefined): status is 'completed' | 'failed' {
  return status === 'completed' || status === 'failed';
}

export const tokenUsageSchema = z.object({
  input_tokens: z.number().default(0),
  output_tokens: z.number().default(0),
  cache_creation_input_tokens: z.number().default(0),
  cache_read_input_tokens: z.number().default(0),
});
export type TokenUsage = z.infer<typeof tokenUsageSchema>;

export function emptyUsage(): TokenUsage {
  return { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
}

export function addUsage(into: TokenUsage, more: Partial<TokenUsage> | undefined | null): TokenUsage {
  if (!more) return into;
  into.input_tokens += more.input_tokens ?? 0;
  into.output_tokens += more.output_tokens ?? 0;
  into.cache_creation_input_tokens += more.cache_creation_input_tokens ?? 0;
  into.cache_read_input_tokens += more.cache_read_input_tokens ?? 0;
  return into;
}

/** The `output` of a work task; serialised to a JSON string in `results:{id}`. */
export interface WorkOutput {
  summary: string;
  files_created: string[];
  files_modified: string[];
  [key: string]: unknown;
}

/** What `results:{task_id}` holds, read back. Unknown fields are kept in `raw`. */
export interface TaskResult {
  taskId: string;
  status: string;
  output: Record<string, unknown> | undefined;
  error: string | undefined;
  startedAt: string | undefined;
  completedAt: string | undefined;
  domain: string | undefined;
  agentId: string | undefined;
  attempts: number | undefined;
  /** The client it was sent for (`metadata.client_id`), when one was named. */
  clientId: string | undefined;
  raw: Record<string, string>;
}

export function readResultHash(taskId: string, hash: Record<string, string>): TaskResult | undefined {
  if (Object.keys(hash).length === 0) return undefined;
  let output: Record<string, unknown> | undefined;
  if (hash['output'] !== undefined) {
    try {
      const parsed: unknown = JSON.parse(hash['output']);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) output = parsed as Record<string, unknown>;
    } catch {
      output = { unparsed: hash['output'] };
    }
  }
  return {
    taskId: hash['task_id'] ?? taskId,
    status: hash['status'] ?? 'unknown',
    output,
    error: hash['error'],
    startedAt: hash['started_at'],
    completedAt: hash['completed_at'],
    domain: hash['domain'],
    agentId: hash['agent_id'],
    attempts: hash['attempts'] === undefined ? undefined : Number(hash['attempts']),
    clientId: hash['client_id'],
    raw: hash,
  };
}
