import { meaningfulWords } from './template.js';

/** A routing choice as the router and worker-selector prompts list it: `- <name>: <description>`. */
export interface Candidate {
  name: string;
  description: string;
}

/** Every `- name: description` line of a prompt, in order. */
export function listedCandidates(prompt: string): Candidate[] {
  const candidates: Candidate[] = [];
  for (const line of prompt.matchAll(/^\s*[-*]\s+([\w.-]+):\s*(.*?)\s*$/gm)) {
    candidates.push({ name: line[1] ?? '', description: line[2] ?? '' });
  }
  return candidates;
}

/**
 * A crude suffix stemmer, applied to both sides. Deliberately not the router's: this server stands in
 * for a model, and must not agree with the keyword router merely by sharing its code.
 * It stems so "endpoints" meets "endpoint" and "styling" meets "styles". */
export function stem(word: string): string {
  let w = word;
  if (w.length > 4 && w.endsWith('ies')) w = `${w.slice(0, -3)}y`;
  else if (w.length > 4 && /(ses|xes|ches|shes)$/.test(w)) w = w.slice(0, -2);
  else if (w.length > 3 && w.endsWith('s') && !w.endsWith('ss')) w = w.slice(0, -1);
  if (w.length > 5 && w.endsWith('ing')) w = w.slice(0, -3);
  else if (w.length > 4 && w.endsWith('ed')) w = w.slice(0, -2);
  if (w.length > 3 && w.endsWith('e')) w = w.slice(0, -1);
  return w;
}

/** The stemmed meaningful words of a text. */
export function keywords(text: string): Set<string> {
  return new Set(meaningfulWords(text.replace(/[-_]/g, ' ')).map(stem));
}

/**
 * How well a candidate fits a task: one point per shared keyword with its description, two per
 * keyword of its name that the task uses.
 */
export function overlapScore(task: string, candidate: Candidate): number {
  const wanted = keywords(task);
  let score = 0;
  for (const word of keywords(candidate.description)) if (wanted.has(word)) score += 1;
  for (const word of keywords(candidate.name)) if (wanted.has(word)) score += 2;
  return score;
}

/**
 * The candidates that share keywords with the task, best first (ties keep list order), at most
 * `max`; when none do, the first listed one, so a request always gets an answer.
 */
export function rankByOverlap(task: string, candidates: readonly Candidate[], max = 3): Candidate[] {
  const scored = candidates.map((candidate, index) => ({ candidate, index, score: overlapScore(task, candidate) }));
  const matching = scored.filter((s) => s.score > 0).sort((a, b) => b.score - a.score || a.index - b.index);
  if (matching.length === 0) return candidates.slice(0, 1);
  return matching.slice(0, max).map((s) => s.candidate);
}
