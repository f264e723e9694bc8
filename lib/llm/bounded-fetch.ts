import { LlmError, LlmErrorCode } from './llm-error.js';

/** The error a reply over the limit ends in: not retried, since the same request would bring it again. */
function replyTooLarge(maxBytes: number, size?: number): LlmError {
  const what = size === undefined ? `more than ${maxBytes} bytes` : `${size} bytes`;
  return new LlmError(
    LlmErrorCode.other,
    `the model's reply was ${what}, over the ${maxBytes}-byte limit (DAN_MAX_MODEL_REPLY_BYTES); check the model server (ANTHROPIC_BASE_URL), or raise DAN_MAX_MODEL_REPLY_BYTES`,
    { retryable: false },
  );
}

/**
 * `fetch` whose response bodies end in an error past `maxBytes` (0: no limit). A model server answers
 * whatever it likes, and the SDK holds a whole reply in memory before parsing it: a 150 MB reply took
 * an agent to 1.2 GB. The body is counted as it arrives, and a declared Content-Length over the limit
 * fails before a byte is read. The failure comes from reading the body, not from `fetch` itself, so
 * the SDK does not retry it as a connection error.
 */
export function boundedFetch(maxBytes: number, base: typeof fetch = globalThis.fetch): typeof fetch {
  return async (input, init) => {
    const response = await base(input, init);
    const body = response.body;
    if (maxBytes <= 0 || body === null) return response;
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    let seen = 0;
    const counted = Number.isFinite(declared) && declared > maxBytes
      ? new ReadableStream<Uint8Array>({
        async start(controller) {
          await body.cancel();
          controller.error(replyTooLarge(maxBytes, declared));
        },
      })
      : body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength;
          if (seen > maxBytes) controller.error(replyTooLarge(maxBytes));
          else controller.enqueue(chunk);
        },
      }));
    return new Response(counted, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
