import { ToolError } from './tool-error.js';

// A pattern like {a,b}{c,d}{e,f}... grows fast; past this many alternatives it is refused.
const MAX_BRACE_EXPANSIONS = 256;

/**
 * Compiles a glob to a RegExp over `/`-separated relative paths. Supported: `**` (any number of
 * folders, including none), `*` (any characters but `/`), `?` (one character but `/`), `{a,b}`
 * (alternatives, nestable), `[abc]` / `[a-z]` / `[!x]` (character classes) and `\` to escape.
 * Names starting with a dot match like any other: the model usually wants `.env` too.
 */
export function globToRegExp(pattern: string): RegExp {
  const sources = expandBraces(pattern).map(compileOne);
  return new RegExp(`^(?:${sources.join('|')})$`);
}

/** `a{b,c{d,e}}f` -> `abf`, `acdf`, `acef`. Braces without a top-level comma stay literal. */
export function expandBraces(pattern: string): string[] {
  const group = firstBraceGroup(pattern);
  if (!group) return [pattern];
  const head = pattern.slice(0, group.open);
  const tail = pattern.slice(group.close + 1);
  const results: string[] = [];
  for (const alternative of group.alternatives) {
    for (const expanded of expandBraces(head + alternative + tail)) {
      results.push(expanded);
      if (results.length > MAX_BRACE_EXPANSIONS) {
        throw new ToolError(`pattern '${pattern}' expands to more than ${MAX_BRACE_EXPANSIONS} alternatives; use fewer {a,b} groups`);
      }
    }
  }
  return results;
}

interface BraceGroup {
  open: number;
  close: number;
  alternatives: string[];
}

function firstBraceGroup(pattern: string): BraceGroup | undefined {
  for (let open = 0; open < pattern.length; open += 1) {
    if (pattern[open] === '\\') {
      open += 1;
      continue;
    }
    if (pattern[open] !== '{') continue;
    let depth = 0;
    let start = open + 1;
    const alternatives: string[] = [];
    for (let index = open; index < pattern.length; index += 1) {
      const char = pattern[index];
      if (char === '\\') index += 1;
      else if (char === '{') depth += 1;
      else if (char === '}') {
        depth -= 1;
        if (depth === 0) {
          alternatives.push(pattern.slice(start, index));
          if (alternatives.length > 1) return { open, close: index, alternatives };
          break;
        }
      } else if (char === ',' && depth === 1) {
        alternatives.push(pattern.slice(start, index));
        start = index + 1;
      }
    }
  }
  return undefined;
}

function compileOne(pattern: string): string {
  let out = '';
  for (let index = 0; index < pattern.length; index += 1) {
    const char = pattern[index] ?? '';
    const atSegmentStart = index === 0 || pattern[index - 1] === '/';
    if (char === '*' && pattern[index + 1] === '*') {
      const next = pattern[index + 2];
      if (atSegmentStart && next === '/') {
        out += '(?:[^/]+/)*';
        index += 2;
        continue;
      }
      if (atSegmentStart && next === undefined) {
        out += '.*';
        index += 1;
        continue;
      }
      // `a**b` inside a name means the same as `a*b`.
      while (pattern[index + 1] === '*') index += 1;
      out += '[^/]*';
    } else if (char === '*') {
      out += '[^/]*';
    } else if (char === '?') {
      out += '[^/]';
    } else if (char === '[') {
      const end = pattern.indexOf(']', index + 2);
      if (end === -1) {
        out += '\\[';
        continue;
      }
      let body = pattern.slice(index + 1, end);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      out += `[${negated ? '^/' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      index = end;
    } else if (char === '\\' && index + 1 < pattern.length) {
      index += 1;
      out += escapeRegExp(pattern[index] ?? '');
    } else {
      out += escapeRegExp(char);
    }
  }
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
