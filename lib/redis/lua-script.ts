// Where a line of a script Redis ran came from. `LuaFileScript` sends a `.lua` file after generated
// code (and `common.lua`), so Redis' own line numbers need mapping back to be of use.

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
