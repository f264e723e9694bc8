/**
 * Keyword matching shared by the scoring router (task -> domains) and worker selection
 * (sub-task -> workers). Both sides of a comparison go through the same tokeniser and stemmer, so
 * "endpoints", "endpoint" and "Endpoint" all meet as one stem.
 */

/** Score of one single-word keyword found in the text. */
export const KEYWORD_WEIGHT = 1;
/** A phrase such as "signup form" is stronger evidence than its words: 1.5 per word of the phrase. */
export const PHRASE_WEIGHT_PER_WORD = 1.5;
/** Words of an agent's description count a little, so a definition with few keywords still gets found. */
export const DESCRIPTION_WORD_WEIGHT = 0.25;

/**
 * Words too common in task text to say anything about a domain. They are skipped only when matching
 * description words; a keyword list may still name any of them on purpose.
 */
const STOP_WORDS = new Set(
  [
    'a', 'an', 'the', 'and', 'or', 'but', 'of', 'to', 'for', 'with', 'without', 'in', 'on', 'at', 'by', 'from',
    'into', 'onto', 'as', 'is', 'are', 'be', 'it', 'its', 'this', 'that', 'these', 'those', 'there', 'their',
    'our', 'we', 'you', 'your', 'my', 'all', 'any', 'each', 'every', 'some', 'new', 'add', 'create', 'make',
    'build', 'use', 'using', 'update', 'change', 'fix', 'implement', 'write', 'set', 'up', 'code', 'app',
    'application', 'project', 'file', 'files', 'work', 'task', 'tasks', 'thing', 'things', 'so', 'can', 'not',
    'no', 'do', 'does', 'should', 'must', 'will', 'other', 'such', 'like', 'also', 'than', 'then', 'when',
  ].map((word) => stem(word)),
);

/** Reduces a lowercase word to a light stem: plurals, -ing and -ed, and a final silent e. */
export function stem(word: string): string {
  let w = word;
  if (w.length > 4 && w.endsWith('ies')) w = `${w.slice(0, -3)}y`;
  else if (w.length > 4 && /(sses|shes|ches|xes|zzes)$/.test(w)) w = w.slice(0, -2);
  else if (w.length > 3 && w.endsWith('s') && !/(ss|us|is)$/.test(w)) w = w.slice(0, -1);

  let suffixRemoved = false;
  if (w.length > 5 && w.endsWith('ing')) {
    w = w.slice(0, -3);
    suffixRemoved = true;
  } else if (w.length > 4 && w.endsWith('ed') && !w.endsWith('eed')) {
    w = w.slice(0, -2);
    suffixRemoved = true;
  }
  // "running" -> "runn" -> "run", but "adding" -> "add" keeps its pair (3 letters is the floor).
  if (suffixRemoved && w.length > 3 && /([^aeiouylsz])\1$/.test(w)) w = w.slice(0, -1);
  if (w.length > 3 && w.endsWith('e')) w = w.slice(0, -1);
  return w;
}

/** Lowercase stemmed words of a text; punctuation and paths split words ("/api/users" -> api, user). */
export function tokenize(text: string): string[] {
  return (text.toLowerCase().match(/[a-z0-9]+/g) ?? []).map(stem);
}

/** Keywords and description of an agent, pre-tokenised once by `compileProfile`. */
export interface KeywordProfile {
  /** The keywords as written, each with its token sequence. */
  keywords: { text: string; tokens: string[] }[];
  descriptionTokens: Set<string>;
}

/** Tokenises an agent's keywords and description once, so many texts can be scored against them. */
export function compileProfile(keywords: readonly string[], description: string): KeywordProfile {
  const compiled = keywords
    .map((text) => ({ text, tokens: tokenize(text) }))
    .filter((keyword) => keyword.tokens.length > 0);
  const descriptionTokens = new Set(tokenize(description).filter((token) => token.length > 1 && !STOP_WORDS.has(token)));
  return { keywords: compiled, descriptionTokens };
}

/** How well a text matches a profile, and the keywords that matched (for reasons in logs). */
export interface TextScore {
  score: number;
  matched: string[];
}

/**
 * Scores a text against a profile. Each keyword counts once however often it occurs; multi-word
 * keywords must appear as a contiguous phrase and weigh more; distinct description words add a little.
 */
export function scoreText(text: string, profile: KeywordProfile): TextScore {
  const tokens = tokenize(text);
  let score = 0;
  const matched: string[] = [];
  for (const keyword of profile.keywords) {
    if (!containsSequence(tokens, keyword.tokens)) continue;
    score += keyword.tokens.length === 1 ? KEYWORD_WEIGHT : PHRASE_WEIGHT_PER_WORD * keyword.tokens.length;
    matched.push(keyword.text);
  }
  const seen = new Set<string>();
  for (const token of tokens) {
    if (profile.descriptionTokens.has(token) && !seen.has(token)) {
      seen.add(token);
      score += DESCRIPTION_WORD_WEIGHT;
    }
  }
  return { score: roundScore(score), matched };
}

/** Two decimals: scores are shown to people in reasons and logs. */
export function roundScore(score: number): number {
  return Math.round(score * 100) / 100;
}

function containsSequence(tokens: readonly string[], sequence: readonly string[]): boolean {
  const first = sequence[0];
  if (first === undefined) return false;
  for (let i = 0; i + sequence.length <= tokens.length; i += 1) {
    if (tokens[i] !== first) continue;
    let all = true;
    for (let j = 1; j < sequence.length; j += 1) {
      if (tokens[i + j] !== sequence[j]) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}
