import type { z } from 'zod';
import type { Logger } from '../../logger.js';
import type { CommandSandbox } from '../../sandbox/command-sandbox.js';
import type { FileTracker } from '../../workspace/file-tracker.js';
import type { WorkspaceJail } from '../../workspace/workspace-jail.js';
import type { ToolDefinition } from '../types.js';
import { ToolError } from './tool-error.js';

/** What every tool call gets from the worker running it. */
export interface ToolContext {
  /** Every path from the model goes through it. */
  jail: WorkspaceJail;
  /** File tools record the files they create and change here. */
  tracker: FileTracker;
  /** Cancels the task: a running command is killed. */
  signal?: AbortSignal;
  /** Upper bound of a Bash command's run time, whatever the model asks for. */
  bashTimeoutMs: number;
  /** Upper bound of the text one tool call returns to the model. */
  maxOutputBytes: number;
  /** Where Bash runs its commands; absent: this process's `DAN_SANDBOX=auto` sandbox. */
  sandbox?: CommandSandbox;
  /** Folders Bash's commands may read but not change besides the workspace (a task worktree's repository, for git). */
  readOnly?: readonly string[];
  logger?: Logger;
}

/**
 * A tool the model can call, under the name and with the input field names Claude Code uses, so
 * agent definitions written for Claude Code work here unchanged. `run` returns the text the model
 * reads; a problem the model can fix is thrown as a `ToolError`.
 */
export interface WorkerTool {
  definition: ToolDefinition;
  run(input: unknown, ctx: ToolContext): Promise<string>;
}

/** Validates a tool's input; every problem is listed in one `ToolError`, by field name. */
export function parseToolInput<T>(toolName: string, schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`);
  throw new ToolError(`invalid input for ${toolName}: ${problems.join('; ')}`);
}

/** Cuts `text` to at most `maxBytes` UTF-8 bytes (whole characters), for tool output. */
export function cutToBytes(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  // toString drops a trailing partial character as U+FFFD; strip it so the cut stays clean.
  return bytes.subarray(0, Math.max(0, maxBytes)).toString('utf8').replace(/\uFFFD$/, '');
}

/** Human size for messages: `812 B`, `14.2 KB`, `3.1 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
