import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * One piece of a script's source: Redis numbers the lines of the whole text it was sent, so an error
 * at `user_script:<line>` is mapped back through these to the file (or generated part) and its line.
 */
export interface LuaSegment {
  /** A file name (`claim-12.lua`) or a description of generated code. */
  name: string;
  /** How many lines this piece takes in the sent text. */
  lines: number;
}

/** Where line `line` of the sent text came from: `claim-12.lua:40`. */
export function locateLuaLine(segments: readonly LuaSegment[], line: number): string {
  let start = 1;
  for (const segment of segments) {
    if (line < start + segment.lines) return `${segment.name}:${line - start + 1}`;
    start += segment.lines;
  }
  return `line ${line} past the end of the script`;
}

/** Rewrites every `user_script:<line>` of a Redis error message to the file and line it came from. */
export function mapLuaError(message: string, segments: readonly LuaSegment[]): string {
  return message.replace(/user_script:(\d+)/g, (_all, line: string) => locateLuaLine(segments, Number(line)));
}

/** Lines of a piece of source as Redis counts them (a final newline ends the last line). */
export function countLines(text: string): number {
  if (text === '') return 0;
  const newlines = text.split('\n').length - 1;
  return text.endsWith('\n') ? newlines : newlines + 1;
}

/**
 * A Lua script run by its SHA (EVALSHA), loaded on first use and again after a Redis restart
 * (NOSCRIPT), so each call sends the hash, not the source. When the source was assembled from
 * several pieces, `segments` say which, so an error names the file and line to look at.
 */
export class LuaScript {
  readonly sha: string;
  readonly segments: readonly LuaSegment[];

  constructor(readonly name: string, readonly source: string, segments?: readonly LuaSegment[]) {
    this.sha = createHash('sha1').update(source).digest('hex');
    this.segments = segments ?? [{ name: `script ${name}`, lines: countLines(source) }];
  }

  async run(redis: Redis, keys: string[], args: (string | number | Buffer)[]): Promise<unknown> {
    try {
      try {
        return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
          return await redis.eval(this.source, keys.length, ...keys, ...args);
        }
        throw error;
      }
    } catch (error) {
      if (error instanceof Error && error.message.includes('user_script:')) error.message = mapLuaError(error.message, this.segments);
      throw error;
    }
  }
}
