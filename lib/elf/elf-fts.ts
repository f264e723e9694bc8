/**
 * Turns any text (a task description, a person's question) into an FTS5 MATCH expression that
 * cannot be a syntax error: only runs of letters and digits survive, each one quoted, joined by
 * OR so bm25 ranks the rows that share the most terms first. Operators a user types (`"`, `*`,
 * `NEAR(`, `-`, `AND`, `:`) become plain words or disappear.
 */

// Words too common to tell tasks apart; matching them would rank half the table.
const STOP_WORDS = new Set([
  'a', 'an', 'and', 'are', 'as', 'at', 'be', 'but', 'by', 'can', 'do', 'does', 'for', 'from', 'has', 'have', 'how', 'i', 'if',
  'in', 'into', 'is', 'it', 'its', 'me', 'my', 'no', 'not', 'of', 'on', 'or', 'our', 'so', 'that', 'the', 'their', 'then',
  'there', 'these', 'this', 'to', 'was', 'we', 'were', 'what', 'when', 'which', 'who', 'why', 'will', 'with', 'you', 'your',
  'add', 'make', 'please', 'should', 'use', 'using', 'new',
]);

/** 16 terms: enough for a long task description; ranking costs grow with every term. */
export const MAX_QUERY_TERMS = 16;

/** Distinct lower-case search terms of `text`, in order of first appearance. */
export function searchTerms(text: string, maxTerms = MAX_QUERY_TERMS): string[] {
  const terms: string[] = [];
  const seen = new Set<string>();
  for (const match of text.toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    const word = match[0];
    if (word.length < 2 || STOP_WORDS.has(word) || seen.has(word)) continue;
    seen.add(word);
    terms.push(word);
    if (terms.length >= maxTerms) break;
  }
  return terms;
}

/** The MATCH expression for `text`, or '' when it holds no searchable word (then match nothing). */
export function ftsQuery(text: string, maxTerms = MAX_QUERY_TERMS): string {
  return searchTerms(text, maxTerms)
    .map((term) => `"${term}"`)
    .join(' OR ');
}

