import { describe, expect, it } from 'vitest';
import { chunkProblems } from '../../lib/farm/chunks.js';
import { countByFile, parseProblems } from '../../lib/farm/problems.js';

const ESC = '\u001b';

// Real output of `tsc --noEmit --strict` (TypeScript 5, not a terminal).
const TSC = [
  "src/bad.ts(1,7): error TS2322: Type 'string' is not assignable to type 'number'.",
  "src/bad.ts(2,19): error TS7006: Parameter 'a' implicitly has an 'any' type.",
].join('\n');

// Real output of `tsc --noEmit --strict --pretty true`, colours and code frames included.
const TSC_PRETTY = [
  `${ESC}[96msrc/bad.ts${ESC}[0m:${ESC}[93m1${ESC}[0m:${ESC}[93m7${ESC}[0m - ${ESC}[91merror${ESC}[0m${ESC}[90m TS2322: ${ESC}[0mType 'string' is not assignable to type 'number'.`,
  '',
  `${ESC}[7m1${ESC}[0m const x: number = "a";`,
  `${ESC}[7m ${ESC}[0m ${ESC}[91m      ~${ESC}[0m`,
  '',
  `${ESC}[96msrc/bad.ts${ESC}[0m:${ESC}[93m2${ESC}[0m:${ESC}[93m19${ESC}[0m - ${ESC}[91merror${ESC}[0m${ESC}[90m TS7006: ${ESC}[0mParameter 'a' implicitly has an 'any' type.`,
  '',
  '',
  'Found 2 errors in the same file, starting at: src/bad.ts:1',
].join('\n');

// Real output of `eslint src` (ESLint 9, stylish formatter), absolute paths.
const ESLINT = [
  '',
  '/repo/src/b.js',
  "  1:7   error  'y' is assigned a value but never used  no-unused-vars",
  "  2:18  error  'undefinedName' is not defined          no-undef",
  '',
  '/repo/src/c.js',
  '  4:1  warning  Unexpected console statement  no-console',
  '',
  '✖ 3 problems (2 errors, 1 warning)',
  '',
].join('\n');

// `npm run lint` around a tool that prints file:line[:col]: message (gcc, grep -n, many linters).
const GENERIC = [
  '',
  '> app@1.0.0 lint',
  '> node check.mjs',
  '',
  'src/cart.js:2: TODO-LINT: prefer reduce',
  'src/util/format.js:2:14: TODO-LINT: use Intl.NumberFormat',
  './src/index.js:3: TODO-LINT: sort the exports',
  '8 problem(s)',
].join('\n');

describe('parseProblems', () => {
  it('reads tsc output', () => {
    expect(parseProblems(TSC, '/repo')).toEqual([
      { file: 'src/bad.ts', line: 1, column: 7, message: "error TS2322: Type 'string' is not assignable to type 'number'." },
      { file: 'src/bad.ts', line: 2, column: 19, message: "error TS7006: Parameter 'a' implicitly has an 'any' type." },
    ]);
  });

  it('reads tsc --pretty output, colours and code frames included, and skips its summary', () => {
    const problems = parseProblems(TSC_PRETTY, '/repo');
    expect(problems.map((p) => `${p.file}:${p.line}:${p.column}`)).toEqual(['src/bad.ts:1:7', 'src/bad.ts:2:19']);
    expect(problems[0]?.message).toBe("error TS2322: Type 'string' is not assignable to type 'number'.");
  });

  it('reads eslint stylish output, making absolute paths relative to the repository', () => {
    expect(parseProblems(ESLINT, '/repo')).toEqual([
      { file: 'src/b.js', line: 1, column: 7, message: "error 'y' is assigned a value but never used no-unused-vars" },
      { file: 'src/b.js', line: 2, column: 18, message: "error 'undefinedName' is not defined no-undef" },
      { file: 'src/c.js', line: 4, column: 1, message: 'warning Unexpected console statement no-console' },
    ]);
  });

  it('reads file:line[:col]: message lines and skips everything else', () => {
    expect(parseProblems(GENERIC, '/repo')).toEqual([
      { file: 'src/cart.js', line: 2, message: 'TODO-LINT: prefer reduce' },
      { file: 'src/util/format.js', line: 2, column: 14, message: 'TODO-LINT: use Intl.NumberFormat' },
      { file: 'src/index.js', line: 3, message: 'TODO-LINT: sort the exports' },
    ]);
  });

  it('finds nothing in output without problems', () => {
    expect(parseProblems('no problems\n', '/repo')).toEqual([]);
    expect(parseProblems('', '/repo')).toEqual([]);
  });

  it('counts problems per file', () => {
    expect(countByFile(parseProblems(ESLINT, '/repo'))).toEqual({ 'src/b.js': 2, 'src/c.js': 1 });
  });
});

describe('chunkProblems', () => {
  const problems = parseProblems(['a.js:1: x', 'b.js:3: y', 'b.js:1: z', 'c.js:9: w'].join('\n'), '/repo');

  it('keeps every file in one chunk, largest first, problems in line order', () => {
    expect(chunkProblems(problems)).toEqual([
      { id: '1', files: ['b.js'], problems: [{ file: 'b.js', line: 1, message: 'z' }, { file: 'b.js', line: 3, message: 'y' }] },
      { id: '2', files: ['a.js'], problems: [{ file: 'a.js', line: 1, message: 'x' }] },
      { id: '3', files: ['c.js'], problems: [{ file: 'c.js', line: 9, message: 'w' }] },
    ]);
  });

  it('puts several files in a chunk when asked, never splitting a file', () => {
    const chunks = chunkProblems(problems, 2);
    expect(chunks.map((c) => c.files)).toEqual([['b.js', 'a.js'], ['c.js']]);
    expect(chunks.flatMap((c) => c.problems)).toHaveLength(4);
  });
});
