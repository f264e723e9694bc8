/** One problem a problems command reported: a file (relative to the repository), a line, a message. */
export interface Problem {
  file: string;
  line: number;
  column?: number;
  message: string;
}

// tsc: `src/a.ts(3,7): error TS2322: Type 'string' is not assignable to type 'number'.`
const TSC = /^(?<file>[^\s(][^(]*?)\((?<line>\d+),(?<col>\d+)\):\s*(?<message>(?:error|warning)\s+TS\d+:.*)$/;
// tsc --pretty: `src/a.ts:3:7 - error TS2322: Type 'string' is not assignable ...`
const TSC_PRETTY = /^(?<file>[^\s:][^:\s]*):(?<line>\d+):(?<col>\d+) - (?<message>(?:error|warning) TS\d+:.*)$/;
// eslint (stylish): a file path alone on its line, then `  3:7  error  'x' is assigned ...  no-unused-vars`
const ESLINT_FILE = /^(?<file>\/\S.*|[A-Za-z]:\\\S.*)$/;
const ESLINT_ROW = /^\s+(?<line>\d+):(?<col>\d+)\s+(?<message>(?:error|warning)\s+.*)$/;
// Generic (gcc, tsc --pretty false, eslint -f unix, grep -n, ...): `file:line[:col]: message`
const GENERIC = /^(?<file>[^\s:][^:\s]*):(?<line>\d+)(?::(?<col>\d+))?:\s*(?<message>.*\S.*)$/;

/**
 * Parses a problems command's output into problems with file and line. It understands tsc's
 * `file(line,col): error TSnnnn: ...` (and its --pretty form), eslint's default (stylish) output and the generic
 * `file:line[:col]: message` most tools can print. Files are made relative to `root` when they
 * are absolute paths inside it; lines that are none of these (summaries, blank lines) are skipped.
 */
export function parseProblems(output: string, root: string): Problem[] {
  const problems: Problem[] = [];
  let eslintFile: string | undefined;
  for (const raw of output.split(/\r?\n/)) {
    const line = stripAnsi(raw).replace(/\s+$/, '');
    if (line === '') { eslintFile = undefined; continue; }
    const tsc = TSC.exec(line)?.groups ?? TSC_PRETTY.exec(line)?.groups;
    if (tsc) { problems.push(problem(tsc, root)); continue; }
    const row = eslintFile ? ESLINT_ROW.exec(line)?.groups : undefined;
    if (row && eslintFile) { problems.push(problem({ ...row, file: eslintFile }, root)); continue; }
    const generic = GENERIC.exec(line)?.groups;
    if (generic && !/^\d+$/.test(generic['file'] ?? '')) { eslintFile = undefined; problems.push(problem(generic, root)); continue; }
    const file = ESLINT_FILE.exec(line)?.groups?.['file'];
    eslintFile = file;
  }
  return problems;
}

function problem(groups: Record<string, string | undefined>, root: string): Problem {
  const column = groups['col'] ? Number(groups['col']) : undefined;
  return {
    file: relativeTo(root, (groups['file'] ?? '').trim()),
    line: Number(groups['line']),
    ...(column !== undefined ? { column } : {}),
    message: (groups['message'] ?? '').replace(/\s{2,}/g, ' ').trim(),
  };
}

function relativeTo(root: string, file: string): string {
  const base = root.endsWith('/') ? root : `${root}/`;
  const relative = file.startsWith(base) ? file.slice(base.length) : file;
  return relative.replace(/^\.\//, '');
}

function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}

/** Problems per file, for the before and after counts a farm reports. */
export function countByFile(problems: readonly Problem[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const p of problems) counts[p.file] = (counts[p.file] ?? 0) + 1;
  return counts;
}
