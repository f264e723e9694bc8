import type { SeededRandom } from './seeded-random.js';

/** One message that cannot be a task, and the queue it is pushed onto. */
export interface MalformedMessage {
  domain: string;
  kind: MalformedKind;
  raw: string;
  /** The id a consumer can read out of the broken text: that task must end `failed`. */
  recoverableId?: string;
}

export const MALFORMED_KINDS = [
  'not-json', 'json-array', 'json-string', 'json-number', 'json-literal', 'truncated-object', 'truncated-with-id',
  'object-then-garbage', 'empty-or-blank', 'control-characters', 'huge-string', 'nan-in-object',
] as const;
export type MalformedKind = (typeof MALFORMED_KINDS)[number];

// 256 KiB: far beyond any task a client sends, small enough that 1,000 messages stay a few MB.
const HUGE_BYTES = 256 * 1024;

/**
 * `count` messages that a consumer must dead-letter (protocol.md: text that is not JSON, or JSON that
 * is not an object), spread over `domains` and over every kind in turn, each unique so it can be found
 * again by its text in `tasks:dead:{domain}`. `tag` keeps the ids of one run apart from another's.
 * Huge strings are one message in a hundred.
 */
export function malformedMessages(count: number, domains: readonly string[], tag: string, random: SeededRandom): MalformedMessage[] {
  const out: MalformedMessage[] = [];
  for (let i = 0; i < count; i++) {
    const domain = random.pick(domains);
    const kind = i % 100 === 99 ? 'huge-string' : MALFORMED_KINDS.filter((k) => k !== 'huge-string')[i % (MALFORMED_KINDS.length - 1)] as MalformedKind;
    out.push({ domain, kind, ...build(kind, i, tag, random) });
  }
  return out;
}

function build(kind: MalformedKind, i: number, tag: string, random: SeededRandom): { raw: string; recoverableId?: string } {
  const id = `chaos-${tag}-${kind}-${i}`;
  switch (kind) {
    case 'not-json': return { raw: `chaos ${tag} #${i}: please build the thing, it is urgent` };
    case 'json-array': return { raw: JSON.stringify([{ task_id: id, payload: { description: 'an array is not a task' } }, i]), recoverableId: id };
    case 'json-string': return { raw: JSON.stringify(`chaos ${tag} #${i} as a JSON string`) };
    case 'json-number': return { raw: `${i}.${random.int(1, 999_999)}` };
    case 'json-literal': return { raw: `  ${['null', 'true', 'false'][i % 3]}  ` + ' '.repeat(i % 7) };
    case 'truncated-object': return { raw: `{"type": "task_assignment", "payload": {"description": "chaos ${tag} #${i} cut off` };
    case 'truncated-with-id': return { raw: `{"task_id": "${id}", "payload": {"description": "cut off here`, recoverableId: id };
    case 'object-then-garbage': return { raw: `{"task_id": "${id}", "payload": {"description": "x"}} and then some`, recoverableId: id };
    case 'empty-or-blank': return { raw: ' \t\n'.slice(0, i % 4) + `${' '.repeat(i % 11)}` };
    case 'control-characters': return { raw: `\u0001\u0002 chaos ${tag} #${i} \u2603\ttab\r\nnewline \u0000 nul` };
    case 'huge-string': return { raw: `chaos ${tag} #${i} ${'x'.repeat(HUGE_BYTES)}` };
    // Python's json.dumps writes NaN for float('nan'); JSON does not allow it.
    case 'nan-in-object': return { raw: `{"task_id": "${id}", "payload": {"description": "NaN inside"}, "metadata": {"timeout_seconds": NaN}}`, recoverableId: id };
  }
}
