/**
 * A Messages call's body as the model gateway read it whole, parsed once: the rate limit and the
 * budgets both look at it (its model, its prompt, its max_tokens) before it is forwarded.
 */
export interface MessagesBody {
  /** The bytes of the body as sent (forwarded unchanged). */
  raw: Buffer;
  /** Its JSON object; undefined when it is not one (compressed, broken, an array): the upstream answers it. */
  json: Record<string, unknown> | undefined;
}

/** Parses a body once; a `content-encoding` other than identity is not read (its bytes are not JSON). */
export function parseMessagesBody(raw: Buffer, encoding: string | string[] | undefined): MessagesBody {
  if (encoding !== undefined && encoding !== 'identity') return { raw, json: undefined };
  try {
    const json: unknown = JSON.parse(raw.toString('utf8'));
    return { raw, json: json !== null && typeof json === 'object' && !Array.isArray(json) ? json as Record<string, unknown> : undefined };
  } catch {
    return { raw, json: undefined };
  }
}
