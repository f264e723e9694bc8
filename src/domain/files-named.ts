/**
 * Finding file paths in task text, for ELF's hot-file context. The text is whatever a client sent, so
 * this is a hand-written scan, linear in the text, that finds what the regular expression
 * `(?:[\w.-]+\/)*[\w-]+\.[A-Za-z]\w{0,9}\b` found: that expression took time growing with the square
 * of a long word, and a 40 KB description froze a domain for good.
 */

// At most 20 paths are passed on; the ELF request carries them whole.
const MAX_FILES = 20;
// Extensions are 1-10 characters: `ts`, `json`, `properties`.
const MAX_EXTENSION = 10;

function isWord(char: string | undefined): boolean {
  if (char === undefined || char.length !== 1) return false;
  const code = char.charCodeAt(0);
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95;
}

function isLetter(char: string | undefined): boolean {
  return isWord(char) && !/[0-9_]/.test(char ?? '');
}

/** Characters a path is made of: word characters, `.`, `-` and `/`. */
function isPathChar(char: string | undefined): boolean {
  return isWord(char) || char === '.' || char === '-' || char === '/';
}

/** A file name in a folder level: `[start, end)` of the level's text. */
interface NameMatch {
  start: number;
  end: number;
}

/**
 * The first file name (`name.ext`: a name of word characters and `-`, a dot, an extension of 1-10 word
 * characters starting with a letter) in one folder level, searching from `from`; with `atStart`, only a
 * name that begins at `from`.
 */
function nameIn(level: string, from: number, atStart: boolean): NameMatch | undefined {
  let stem = from;
  for (let dot = level.indexOf('.', from); dot !== -1; stem = dot + 1, dot = level.indexOf('.', dot + 1)) {
    if (atStart && stem !== from) return undefined;
    if (dot === stem) continue;
    let end = dot + 1;
    while (isWord(level[end])) end += 1;
    if (isLetter(level[dot + 1]) && end - dot - 1 <= MAX_EXTENSION) return { start: stem, end };
  }
  return undefined;
}

/** Every path in one run of path characters, in order, as the expression would find them. */
function pathsIn(token: string, emit: (file: string) => boolean): void {
  const levels = token.split('/');
  const count = levels.length;
  // best[j]: the furthest level m >= j such that levels j..m-1 are folders and level m starts with a name.
  const best = new Int32Array(count + 1).fill(-1);
  for (let j = count - 1; j >= 0; j -= 1) {
    const level = levels[j] ?? '';
    if (level === '') continue;
    const later = j < count - 1 ? (best[j + 1] ?? -1) : -1;
    best[j] = later !== -1 ? later : nameIn(level, 0, true) !== undefined ? j : -1;
  }
  let k = 0;
  let from = 0;
  while (k < count) {
    const level = levels[k] ?? '';
    if (from >= level.length) {
      k += 1;
      from = 0;
      continue;
    }
    const later = k < count - 1 ? (best[k + 1] ?? -1) : -1;
    const here = nameIn(level, from, true);
    const m = later !== -1 ? later : here !== undefined ? k : -1;
    if (m !== -1) {
      const name = m === k ? here : nameIn(levels[m] ?? '', 0, true);
      const end = name?.end ?? 0;
      const folders = m === k ? '' : `${level.slice(from)}/${levels.slice(k + 1, m).map((l) => `${l}/`).join('')}`;
      if (!emit(`${folders}${(levels[m] ?? '').slice(m === k ? from : 0, end)}`)) return;
      k = m;
      from = end;
      continue;
    }
    const inside = nameIn(level, from, false);
    if (inside === undefined) {
      k += 1;
      from = 0;
      continue;
    }
    if (!emit(level.slice(inside.start, inside.end))) return;
    from = inside.end;
  }
}

/** Workspace paths a task's text names (`src/api/users.ts`, `package.json`), for hot-file context. */
export function filesNamed(text: string): string[] {
  const found = new Set<string>();
  const emit = (file: string): boolean => {
    if (!/^\d/.test(file) && !/^(e\.g|i\.e)$/.test(file)) found.add(file);
    return found.size < MAX_FILES;
  };
  let i = 0;
  while (i < text.length) {
    if (!isPathChar(text[i])) {
      i += 1;
      continue;
    }
    let end = i;
    while (isPathChar(text[end])) end += 1;
    pathsIn(text.slice(i, end), emit);
    if (found.size >= MAX_FILES) break;
    i = end;
  }
  return [...found];
}
