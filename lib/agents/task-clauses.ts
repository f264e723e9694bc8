import { splitAtColon, splitOnSeparators, trailingPunctuationLength } from './clause-scan.js';

/** One piece of a task description that can be sent to a single domain. */
export interface TaskClause {
  text: string;
  /** Index of the sentence it belongs to. */
  sentence: number;
  /** Position among the clauses of its sentence. */
  index: number;
}

/** A sentence of a task description, cut into clauses. */
export interface TaskSentence {
  /** Text before a colon, shared by every clause after it ("Add user registration"). */
  head: string | undefined;
  clauses: TaskClause[];
  /** Separators between consecutive clauses, as written (`separators[i]` sits after clause i). */
  separators: string[];
  /** The sentence's closing punctuation, if any ("." "!" "?"). */
  end: string;
  /** The whole sentence as written, without its closing punctuation. */
  text: string;
}

// Anchored, with no quantified group that can overlap the next: linear. Every other cut is a scan.
const BULLET = /^\s*(?:[-*\u2022]|\d+[.)])\s+/;

/**
 * Cuts a task description into sentences (on sentence ends and line breaks, with list bullets
 * removed) and each sentence into clauses (on commas, semicolons, `and`, `&`). Text before a colon
 * is kept as the sentence's head, so "Add user registration: a POST endpoint and a signup form" gives
 * two clauses that both keep "Add user registration" as their context; a line ending in a colon
 * heads the bullet lines under it the same way. Time is linear in the description's length, which
 * anyone who can submit a task chooses.
 */
export function splitTaskClauses(description: string): TaskSentence[] {
  const sentences: TaskSentence[] = [];
  /** A line such as "Add comments:" heads the bullet lines under it. */
  let listHead: string | undefined;
  for (const rawLine of description.split(/\r?\n/)) {
    const isBullet = BULLET.test(rawLine);
    const line = rawLine.replace(BULLET, '').trim();
    if (line === '') continue;
    if (line.endsWith(':') && !isBullet) {
      listHead = line.slice(0, -1).trim();
      continue;
    }
    if (!isBullet) listHead = undefined;
    for (const piece of line.split(/(?<=[.!?])\s+/)) {
      const end = piece.slice(piece.length - trailingPunctuationLength(piece));
      const text = piece.slice(0, piece.length - end.length).trim();
      if (text === '') continue;
      sentences.push(splitSentence(text, end, sentences.length, listHead));
    }
  }
  return sentences;
}

function splitSentence(text: string, end: string, sentence: number, listHead: string | undefined): TaskSentence {
  const colon = splitAtColon(text);
  const head = colon?.head.trim() ?? listHead;
  const body = colon?.body ?? text;
  const parts = splitOnSeparators(body);
  const clauses: TaskClause[] = [];
  const separators: string[] = [];
  let pendingSeparator = '';
  for (let i = 0; i < parts.length; i += 1) {
    const part = parts[i] ?? '';
    if (i % 2 === 1) {
      pendingSeparator = part;
      continue;
    }
    const clauseText = part.trim();
    if (clauseText === '') continue;
    if (clauses.length > 0) separators.push(normaliseSeparator(pendingSeparator));
    clauses.push({ text: clauseText, sentence, index: clauses.length });
  }
  return { head: head === '' ? undefined : head, clauses, separators, end, text };
}

/** ", and " stays ", and "; " and " stays " and "; a bare ";" gets its space back. */
function normaliseSeparator(separator: string): string {
  const trimmed = separator.trim();
  if (trimmed.startsWith(',') || trimmed.startsWith(';')) {
    const rest = trimmed.slice(1).trim();
    return `${trimmed[0]} ${rest === '' ? '' : `${rest} `}`;
  }
  return ` ${trimmed} `;
}

/**
 * Rebuilds the part of a description made of the chosen clauses: consecutive clauses keep their
 * separators, separate runs are joined as a list, each sentence keeps its head and punctuation.
 * A sentence without a head, where only later clauses were chosen, is quoted whole after them, so
 * "form component" from "Create user registration with API endpoint and form component" still says
 * what the form is for.
 */
export function joinClauses(sentences: readonly TaskSentence[], chosen: ReadonlySet<TaskClause>): string {
  const out: string[] = [];
  for (const sentence of sentences) {
    const picked = sentence.clauses.filter((clause) => chosen.has(clause));
    if (picked.length === 0) continue;
    const runs: string[] = [];
    let current = '';
    let previous: number | undefined;
    for (const clause of picked) {
      if (previous !== undefined && clause.index === previous + 1) {
        current += `${sentence.separators[previous] ?? ' and '}${clause.text}`;
      } else {
        if (current !== '') runs.push(current);
        current = clause.text;
      }
      previous = clause.index;
    }
    runs.push(current);
    let text = joinList(runs);
    const whole = picked.length === sentence.clauses.length;
    if (sentence.head !== undefined) text = `${sentence.head}: ${text}`;
    else if (!whole && picked[0]?.index !== 0) text = `${text} (part of: ${sentence.text})`;
    out.push(`${text}${sentence.end}`);
  }
  return out.join(' ');
}

/** "a", "a and b", "a, b and c". */
function joinList(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1] ?? ''}`;
}
