/**
 * Hand-written scans behind `splitTaskClauses`. Task text comes from anyone who can submit a task, so
 * every scan here is linear in its input: the regular expressions they replace backtracked over runs
 * of spaces or punctuation, and 60 KB of spaces froze the main orchestrator for a minute.
 */

const WHITESPACE = /\s/;
// The characters `.` does not match in a JavaScript regular expression.
const LINE_TERMINATORS = new Set(['\n', '\r', '\u2028', '\u2029']);

function isSpace(text: string, index: number): boolean {
  const char = text[index];
  return char !== undefined && WHITESPACE.test(char);
}

/** Ends of whitespace runs: `ends[i]` is the first index at or after `i` that is not whitespace. */
function whitespaceEnds(text: string): Int32Array {
  const ends = new Int32Array(text.length + 1);
  ends[text.length] = text.length;
  for (let i = text.length - 1; i >= 0; i -= 1) ends[i] = isSpace(text, i) ? (ends[i + 1] ?? text.length) : i;
  return ends;
}

function isAnd(text: string, index: number): boolean {
  return text.slice(index, index + 3).toLowerCase() === 'and';
}

/** A clause separator found by `splitOnSeparators`: `[start, end)` of the text. */
interface Separator {
  start: number;
  end: number;
}

/**
 * The separator starting at `i`, in the order the old pattern tried its alternatives:
 * `\s*,\s+(and\s+)?`, then `\s*;\s*(and\s+)?`, then `\s+(and|&)\s+` (case-insensitive).
 */
function separatorAt(text: string, ends: Int32Array, i: number): Separator | undefined {
  const at = (index: number): number => ends[index] ?? text.length;
  const j = at(i);
  const optionalAnd = (k: number): number => (isAnd(text, k) && at(k + 3) > k + 3 ? at(k + 3) : k);
  if (text[j] === ',') {
    const k = at(j + 1);
    if (k > j + 1) return { start: i, end: optionalAnd(k) };
  }
  if (text[j] === ';') return { start: i, end: optionalAnd(at(j + 1)) };
  if (j > i) {
    if (isAnd(text, j) && at(j + 3) > j + 3) return { start: i, end: at(j + 3) };
    if (text[j] === '&' && at(j + 1) > j + 1) return { start: i, end: at(j + 1) };
  }
  return undefined;
}

/**
 * Splits a sentence body on clause separators the way `String.split` with a capturing group does:
 * text, separator, text, ... In one pass over the text.
 */
export function splitOnSeparators(body: string): string[] {
  const ends = whitespaceEnds(body);
  const parts: string[] = [];
  let from = 0;
  let i = 0;
  while (i < body.length) {
    const separator = separatorAt(body, ends, i);
    if (separator === undefined) {
      i += 1;
      continue;
    }
    parts.push(body.slice(from, separator.start), body.slice(separator.start, separator.end));
    from = separator.end;
    i = separator.end;
  }
  parts.push(body.slice(from));
  return parts;
}

/** Length of the run of `.`, `!` and `?` that ends `text` (what `/[.!?]+$/` matched). */
export function trailingPunctuationLength(text: string): number {
  let i = text.length;
  while (i > 0 && '.!?'.includes(text[i - 1] ?? '')) i -= 1;
  return text.length - i;
}

/**
 * `text` cut at its first colon that is followed by whitespace and more text, as `/^(.+?):\s+(\S.*)$/`
 * did: the head before the colon and the body after the whitespace; undefined when there is none.
 */
export function splitAtColon(text: string): { head: string; body: string } | undefined {
  let lastTerminator = -1;
  for (let i = 0; i < text.length; i += 1) if (LINE_TERMINATORS.has(text[i] ?? '')) lastTerminator = i;
  const ends = whitespaceEnds(text);
  for (let c = 1; c < text.length; c += 1) {
    // `.` in the head matches no line terminator, so no colon after one can start the body.
    if (LINE_TERMINATORS.has(text[c - 1] ?? '')) return undefined;
    if (text[c] !== ':') continue;
    const w = ends[c + 1] ?? text.length;
    if (w > c + 1 && w < text.length && w > lastTerminator) return { head: text.slice(0, c), body: text.slice(w) };
  }
  return undefined;
}
