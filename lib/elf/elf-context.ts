import { oneLine } from '../errors.js';
import { countTokens } from '../llm/token-count.js';
import type { Heuristic, Hotspot, Outcome } from './elf-types.js';

/** One line of injected context; `heuristicId` when the line shows a heuristic (it is then credited). */
export interface ContextItem {
  line: string;
  heuristicId?: number;
}

export interface ContextSection {
  header: string;
  items: readonly ContextItem[];
}

export interface FittedContext {
  text: string;
  tokens: number;
  heuristicIds: number[];
}

/**
 * Lays sections out in order within `budgetTokens`: an item goes in whole only if it fits (a
 * smaller one further down may still fit), and a header only together with its first item.
 * Lines are joined by newlines, which `countTokens` counts as nothing, so the cost of the text is
 * the sum of its lines; the returned `tokens` is counted on the final text all the same.
 */
export function fitSections(sections: readonly ContextSection[], budgetTokens: number): FittedContext {
  const blocks: string[] = [];
  const heuristicIds: number[] = [];
  let used = 0;
  for (const section of sections) {
    const headerCost = countTokens(section.header);
    const lines: string[] = [];
    for (const item of section.items) {
      const cost = countTokens(item.line) + (lines.length === 0 ? headerCost : 0);
      if (used + cost > budgetTokens) continue;
      used += cost;
      lines.push(item.line);
      if (item.heuristicId !== undefined) heuristicIds.push(item.heuristicId);
    }
    if (lines.length > 0) blocks.push([section.header, ...lines].join('\n'));
  }
  const text = blocks.join('\n\n');
  return { text, tokens: countTokens(text), heuristicIds };
}

export const SECTION_HEADERS = {
  golden: '## Golden rules (always follow these)',
  heuristics: '## Lessons from earlier tasks (confidence in parentheses)',
  failures: '## Similar tasks that failed before',
  hotFiles: '## Files changed often lately (hottest first)',
} as const;

export function goldenItem(h: Heuristic): ContextItem {
  return { line: `- ${oneLine(h.rule)}`, heuristicId: h.id };
}

export function heuristicItem(h: Heuristic): ContextItem {
  return { line: `- (${h.confidence.toFixed(2)}) ${oneLine(h.rule)}`, heuristicId: h.id };
}

// 200 and 300 characters: enough to recognise a task and its error, about 50 and 75 tokens.
export function failureItem(o: Outcome): ContextItem {
  const what = clip(oneLine(o.description) || `task ${o.taskId}`, 200);
  return { line: `- ${what} -> failed: ${clip(oneLine(o.error ?? 'no error recorded'), 300)}` };
}

export function hotFileItem(h: Hotspot): ContextItem {
  const failures = h.recentFailures === 0 ? '' : `, ${h.recentFailures} recent failed task${h.recentFailures === 1 ? '' : 's'}`;
  return { line: `- ${h.file} (heat ${h.strength.toFixed(1)}${failures})` };
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
