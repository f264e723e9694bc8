import { oneLine } from '../errors.js';

/**
 * A worker's model call or tool call with how long it took, as one task log line after it ended:
 * `<worker> model call 3 took 1234 ms` or `<worker> tool Bash took 52 ms (ok)`. A model call that
 * failed (an HTTP error, a timeout, an overloaded API) is written too, with its error:
 * `<worker> model call 3 took 30000 ms (error: 529 overloaded)`. The worker's id is followed by a
 * space, never by the ': ' its progress lines carry, so no text a model or a tool writes (which
 * always follows that ': ') can pass for one. Written by the domain agent for each worker and by
 * the main orchestrator for its router; read by the job timeline (`GET /jobs/{id}/timeline`).
 */
export type TimedCall =
  | { kind: 'model_call'; turn: number; durationMs: number; error?: string }
  | { kind: 'tool_call'; tool: string; ok: boolean; durationMs: number };

/** How one model call went: how long it took and, when it failed, why. Reported by whoever made the call. */
export interface ModelCallTiming {
  durationMs: number;
  error?: string;
}

// A failed call's error on the timeline: one line, and short (the whole message is in the task's failure).
const MAX_ERROR_CHARS = 200;

/** `message` as a timed call's error: one line, at most 200 characters. */
function callError(message: string): string {
  const line = oneLine(message) || 'unknown error';
  return line.length > MAX_ERROR_CHARS ? `${line.slice(0, MAX_ERROR_CHARS - 3)}...` : line;
}

/** The log message (after the domain agent's `<agent>: `) for `call` by worker `workerId`. */
export function timedCallMessage(workerId: string, call: TimedCall): string {
  const ms = Math.max(0, Math.round(call.durationMs));
  if (call.kind === 'tool_call') return `${workerId} tool ${call.tool} took ${ms} ms (${call.ok ? 'ok' : 'error'})`;
  return `${workerId} model call ${call.turn} took ${ms} ms${call.error === undefined ? '' : ` (error: ${callError(call.error)})`}`;
}

const MODEL_CALL = /^([^\s:]+) model call (\d+) took (\d+) ms(?: \(error: (.+)\))?$/;
const TOOL_CALL = /^([^\s:]+) tool (\S+) took (\d+) ms \((ok|error)\)$/;

/** A timed call read back from a log message (the text after `<agent>: `), with its worker; undefined for any other line. */
export function parseTimedCall(message: string): (TimedCall & { workerId: string }) | undefined {
  const model = MODEL_CALL.exec(message);
  if (model) {
    return {
      kind: 'model_call', workerId: model[1] as string, turn: Number(model[2]), durationMs: Number(model[3]),
      ...(model[4] !== undefined ? { error: model[4] } : {}),
    };
  }
  const tool = TOOL_CALL.exec(message);
  if (tool) return { kind: 'tool_call', workerId: tool[1] as string, tool: tool[2] as string, durationMs: Number(tool[3]), ok: tool[4] === 'ok' };
  return undefined;
}
