/**
 * A worker's model call or tool call with how long it took, as one task log line after it ended:
 * `<worker> model call 3 took 1234 ms` or `<worker> tool Bash took 52 ms (ok)`. The worker's id is
 * followed by a space, never by the ': ' its progress lines carry, so no text a model or a tool writes
 * (which always follows that ': ') can pass for one. Written by the domain agent for each worker;
 * read by the job timeline (`GET /jobs/{id}/timeline`).
 */
export type TimedCall =
  | { kind: 'model_call'; turn: number; durationMs: number }
  | { kind: 'tool_call'; tool: string; ok: boolean; durationMs: number };

/** The log message (after the domain agent's `<agent>: `) for `call` by worker `workerId`. */
export function timedCallMessage(workerId: string, call: TimedCall): string {
  const ms = Math.max(0, Math.round(call.durationMs));
  return call.kind === 'model_call'
    ? `${workerId} model call ${call.turn} took ${ms} ms`
    : `${workerId} tool ${call.tool} took ${ms} ms (${call.ok ? 'ok' : 'error'})`;
}

const MODEL_CALL = /^([^\s:]+) model call (\d+) took (\d+) ms$/;
const TOOL_CALL = /^([^\s:]+) tool (\S+) took (\d+) ms \((ok|error)\)$/;

/** A timed call read back from a log message (the text after `<agent>: `), with its worker; undefined for any other line. */
export function parseTimedCall(message: string): (TimedCall & { workerId: string }) | undefined {
  const model = MODEL_CALL.exec(message);
  if (model) return { kind: 'model_call', workerId: model[1] as string, turn: Number(model[2]), durationMs: Number(model[3]) };
  const tool = TOOL_CALL.exec(message);
  if (tool) return { kind: 'tool_call', workerId: tool[1] as string, tool: tool[2] as string, durationMs: Number(tool[3]), ok: tool[4] === 'ok' };
  return undefined;
}
