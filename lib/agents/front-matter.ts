import { DanError } from '../errors.js';

/** A scalar of the front-matter subset we accept. */
export type FrontMatterScalar = string | number | boolean | null;
/** A front-matter value: a scalar or a flat list of scalars (no nested mappings). */
export type FrontMatterValue = FrontMatterScalar | FrontMatterScalar[];

/** What `parseFrontMatter` returns: the fields, the line each field is on, and the Markdown after it. */
export interface FrontMatter {
  data: Record<string, FrontMatterValue>;
  /** 1-based line of each key, so later validation can point at the line to fix. */
  lines: Record<string, number>;
  body: string;
  /** 1-based line where the body starts. */
  bodyLine: number;
}

/**
 * Thrown for any problem in an agent definition file (front matter or its fields). The message
 * starts with `file:line` when a line is known and says how to fix it.
 */
export class AgentDefinitionError extends DanError {
  readonly file: string;
  readonly line: number | undefined;

  constructor(file: string, line: number | undefined, problem: string) {
    super('invalid_agent_definition', `${line === undefined ? file : `${file}:${line}`}: ${problem}`, { retryable: false });
    this.name = 'AgentDefinitionError';
    this.file = file;
    this.line = line;
  }
}

const KEY_PATTERN = /^([A-Za-z_][A-Za-z0-9_-]*)\s*:(.*)$/;
const FENCE = '---';

/**
 * Splits a Markdown agent definition into its front matter and body. The front matter is the YAML
 * subset our definitions use: `key: value` with plain or quoted strings, numbers, booleans, null,
 * inline lists `[a, "b c"]` and block lists of `- item` lines; `#` starts a comment. Anything else
 * (nested mappings, multi-line strings) is rejected with the file and line, rather than read wrongly.
 */
export function parseFrontMatter(text: string, file: string): FrontMatter {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines[0]?.trim() !== FENCE) {
    throw new AgentDefinitionError(file, 1, `the file must start with a '---' line, then the front matter (name: ..., description: ...), then another '---' line`);
  }
  const end = lines.findIndex((line, index) => index > 0 && line.trim() === FENCE);
  if (end < 0) {
    throw new AgentDefinitionError(file, 1, `the front matter opened on line 1 is never closed: add a '---' line after the last field`);
  }

  const data: Record<string, FrontMatterValue> = {};
  const keyLines: Record<string, number> = {};
  /** The key whose empty value may be followed by `- item` lines. */
  let listKey: string | undefined;

  for (let index = 1; index < end; index += 1) {
    const lineNo = index + 1;
    const raw = lines[index] ?? '';
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;

    if (trimmed === '-' || trimmed.startsWith('- ')) {
      if (listKey === undefined) {
        throw new AgentDefinitionError(file, lineNo, `list item '${trimmed}' does not belong to a field: put it under a line like 'keywords:'`);
      }
      const item = parseScalar(stripComment(trimmed.slice(1)).trim(), file, lineNo);
      const current = data[listKey];
      data[listKey] = Array.isArray(current) ? [...current, item] : [item];
      continue;
    }

    if (/^\s/.test(raw)) {
      throw new AgentDefinitionError(file, lineNo, `indented line '${trimmed}': nested fields are not supported; write 'key: value' at the start of the line`);
    }
    const match = KEY_PATTERN.exec(raw);
    if (!match) {
      throw new AgentDefinitionError(file, lineNo, `expected 'key: value' but found '${trimmed}'`);
    }
    const key = match[1] ?? '';
    if (Object.hasOwn(data, key)) {
      throw new AgentDefinitionError(file, lineNo, `field '${key}' is set twice (first on line ${keyLines[key]}): keep one`);
    }
    const valueText = stripComment(match[2] ?? '').trim();
    keyLines[key] = lineNo;
    if (valueText === '') {
      data[key] = null;
      listKey = key;
      continue;
    }
    listKey = undefined;
    if (valueText === '|' || valueText === '>' || /^[|>][+-]?$/.test(valueText)) {
      throw new AgentDefinitionError(file, lineNo, `field '${key}': multi-line strings are not supported; keep the value on one line`);
    }
    data[key] = valueText.startsWith('[') ? parseInlineList(valueText, file, lineNo) : parseScalar(valueText, file, lineNo);
  }

  return { data, lines: keyLines, body: lines.slice(end + 1).join('\n').trim(), bodyLine: end + 2 };
}

/** Removes a ` # comment` that is outside quotes. */
function stripComment(text: string): string {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i];
    if (quote !== undefined) {
      if (ch === '\\' && quote === '"') i += 1;
      else if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '#' && (i === 0 || /\s/.test(text[i - 1] ?? ''))) {
      return text.slice(0, i);
    }
  }
  return text;
}

function parseInlineList(text: string, file: string, line: number): FrontMatterScalar[] {
  if (!text.endsWith(']')) {
    throw new AgentDefinitionError(file, line, `list '${text}' is not closed: end it with ']' on the same line`);
  }
  const inner = text.slice(1, -1).trim();
  if (inner === '') return [];
  const items: string[] = [];
  let current = '';
  let quote: string | undefined;
  for (let i = 0; i < inner.length; i += 1) {
    const ch = inner[i] ?? '';
    if (quote !== undefined) {
      current += ch;
      if (ch === '\\' && quote === '"') {
        current += inner[i + 1] ?? '';
        i += 1;
      } else if (ch === quote) {
        quote = undefined;
      }
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      current += ch;
    } else if (ch === ',') {
      items.push(current);
      current = '';
    } else if (ch === '[' || ch === '{') {
      throw new AgentDefinitionError(file, line, `nested lists and mappings are not supported in '${text}'`);
    } else {
      current += ch;
    }
  }
  if (quote !== undefined) {
    throw new AgentDefinitionError(file, line, `unterminated ${quote} quote in '${text}'`);
  }
  items.push(current);
  return items.map((item) => {
    const trimmed = item.trim();
    if (trimmed === '') throw new AgentDefinitionError(file, line, `empty item in list '${text}': remove the extra comma`);
    return parseScalar(trimmed, file, line);
  });
}

function parseScalar(text: string, file: string, line: number): FrontMatterScalar {
  if (text.startsWith('"')) return parseDoubleQuoted(text, file, line);
  if (text.startsWith("'")) {
    const match = /^'((?:[^']|'')*)'$/.exec(text);
    if (!match) throw new AgentDefinitionError(file, line, `badly quoted value ${text}: close the ' quote, and write '' for a quote inside`);
    return (match[1] ?? '').replace(/''/g, "'");
  }
  if (text.startsWith('[') || text.startsWith('{')) {
    throw new AgentDefinitionError(file, line, `nested lists and mappings are not supported: '${text}'`);
  }
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (text === 'null' || text === '~') return null;
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  return text;
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', '/': '/', '0': '\0' };

function parseDoubleQuoted(text: string, file: string, line: number): string {
  let out = '';
  for (let i = 1; i < text.length; i += 1) {
    const ch = text[i] ?? '';
    if (ch === '\\') {
      const next = text[i + 1] ?? '';
      const escaped = ESCAPES[next];
      if (escaped === undefined) {
        throw new AgentDefinitionError(file, line, `unknown escape '\\${next}' in ${text}: use \\" \\\\ \\n or \\t`);
      }
      out += escaped;
      i += 1;
    } else if (ch === '"') {
      if (i !== text.length - 1) {
        throw new AgentDefinitionError(file, line, `unexpected text after the closing quote in ${text}`);
      }
      return out;
    } else {
      out += ch;
    }
  }
  throw new AgentDefinitionError(file, line, `unterminated " quote in ${text}: close it on the same line`);
}
