/** Outcome of reading a JSON answer out of a model's text. */
export type ModelJson = { ok: true; value: unknown } | { ok: false; problem: string };

/**
 * Reads the JSON object a model was asked to answer with. Models often wrap it in a ```json fence
 * or add a sentence around it, so this takes the fenced block if there is one, otherwise the text
 * from the first `{` to the last `}`. Never throws: the caller falls back with `problem` as reason.
 */
export function parseModelJson(text: string): ModelJson {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, problem: 'the answer was empty' };
  const fenced = /```(?:json|JSON)?\s*\n?([\s\S]*?)```/.exec(trimmed);
  let candidate = fenced?.[1]?.trim() ?? trimmed;
  if (!candidate.startsWith('{')) {
    const start = candidate.indexOf('{');
    const end = candidate.lastIndexOf('}');
    if (start < 0) return { ok: false, problem: `the answer has no JSON object: "${preview(trimmed)}"` };
    // An opening brace without a closing one is a cut-off answer: parse it to report where it broke.
    candidate = end > start ? candidate.slice(start, end + 1) : candidate.slice(start);
  }
  try {
    return { ok: true, value: JSON.parse(candidate) as unknown };
  } catch (error) {
    return { ok: false, problem: `the answer is not valid JSON (${(error as Error).message}): "${preview(trimmed)}"` };
  }
}

/** The first 120 characters of a text on one line, for reasons and logs. */
function preview(text: string): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}
