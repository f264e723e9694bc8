import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

// A line longer than this is cut into pieces, so an agent that never prints a newline cannot grow memory.
const maxLineChars = 16_384;
// Exited agents whose last lines stay readable, so the supervisor can quote why an agent died.
const keptExitedAgents = 32;

/**
 * Reads a stream as lines (UTF-8, `\r\n` or `\n`, over-long lines cut) until it ends, errors or
 * closes; resolves then.
 */
export function readLines(stream: Readable | null | undefined, emit: (line: string) => void): Promise<void> {
  if (!stream) return Promise.resolve();
  const decoder = new StringDecoder('utf8');
  let partial = '';
  const push = (line: string) => emit(line.endsWith('\r') ? line.slice(0, -1) : line);
  return new Promise<void>((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      partial += decoder.write(chunk);
      let newline = partial.indexOf('\n');
      while (newline !== -1) {
        push(partial.slice(0, newline));
        partial = partial.slice(newline + 1);
        newline = partial.indexOf('\n');
      }
      while (partial.length > maxLineChars) {
        push(partial.slice(0, maxLineChars));
        partial = partial.slice(maxLineChars);
      }
    });
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      partial += decoder.end();
      if (partial !== '') push(partial);
      partial = '';
      resolve();
    };
    stream.once('end', end);
    stream.once('close', end);
    stream.once('error', end);
  });
}

/**
 * The last output lines of each agent a spawner runs, kept for error messages ("no heartbeat; last
 * output: ..."). Running agents keep theirs; of the exited ones, only the most recent 32.
 */
export class RecentLines {
  private readonly lines = new Map<string, string[]>();

  constructor(private readonly perAgent: number, private readonly isRunning: (agentId: string) => boolean) {}

  /** Starts (or restarts) an agent's record; returns the function that adds a line to it. */
  start(agentId: string): (line: string) => void {
    const buffer: string[] = [];
    this.lines.delete(agentId);
    this.lines.set(agentId, buffer);
    let excess = [...this.lines.keys()].filter((id) => id !== agentId && !this.isRunning(id)).length - keptExitedAgents;
    for (const id of this.lines.keys()) {
      if (excess <= 0) break;
      if (id === agentId || this.isRunning(id)) continue;
      this.lines.delete(id);
      excess -= 1;
    }
    return (line) => {
      buffer.push(line);
      if (buffer.length > this.perAgent) buffer.splice(0, buffer.length - this.perAgent);
    };
  }

  last(agentId: string, count = this.perAgent): string[] {
    return count <= 0 ? [] : (this.lines.get(agentId) ?? []).slice(-count);
  }
}
