/**
 * The dashboard's only way to the network: the public HTTP API, with the key typed at sign-in sent as
 * a header on every call (never a cookie, never in a URL). The key lives in this tab's sessionStorage.
 */

const KEY_STORAGE = 'dan-api-key';

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function storeKey(key: string | null): void {
  if (key === null) sessionStorage.removeItem(KEY_STORAGE);
  else sessionStorage.setItem(KEY_STORAGE, key);
}

/** The window event a 401 answer raises, with the API's message as its detail. */
export const UNAUTHORIZED = 'dan-unauthorized';

/**
 * What a call came to: the data; `missing` when this server has no such route (an older or partial
 * server: the page says the view is not available, it never makes data up); or the API's error.
 */
export type Answer<T> =
  | { kind: 'ok'; status: number; data: T }
  | { kind: 'missing'; path: string }
  | { kind: 'error'; status: number; code: string; message: string };

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = storedKey();
  return { ...(key ? { authorization: `Bearer ${key}` } : {}), ...extra };
}

interface ErrorShape { error?: { code?: unknown; message?: unknown } }

/** Whether an answer is the server's "no route" 404, as opposed to a missing job. */
function isNoRoute(status: number, body: ErrorShape | null): boolean {
  const message = body?.error?.message;
  return status === 404 && body?.error?.code === 'not_found' && typeof message === 'string' && message.startsWith('no route');
}

/** Calls the API; `body` is sent as JSON. Never throws for an HTTP answer; a network fault is an error answer. */
export async function call<T>(method: string, path: string, body?: unknown): Promise<Answer<T>> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (error) {
    return { kind: 'error', status: 0, code: 'network', message: `the server did not answer (${String(error)}); is dan serve running?` };
  }
  if (response.status === 204) return { kind: 'ok', status: 204, data: undefined as T };
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (response.ok) return { kind: 'ok', status: response.status, data: parsed as T };
  const shape = parsed as ErrorShape | null;
  if (isNoRoute(response.status, shape)) return { kind: 'missing', path };
  const message = typeof shape?.error?.message === 'string' ? shape.error.message : `HTTP ${response.status}`;
  // The key stopped being good (revoked while the page was open): the app goes back to sign-in.
  if (response.status === 401) window.dispatchEvent(new CustomEvent(UNAUTHORIZED, { detail: message }));
  return {
    kind: 'error',
    status: response.status,
    code: typeof shape?.error?.code === 'string' ? shape.error.code : `http_${response.status}`,
    message,
  };
}

export const get = <T>(path: string) => call<T>('GET', path);
export const post = <T>(path: string, body: unknown = {}) => call<T>('POST', path, body);

/** A query string of the set values (`?a=1&b=x`), or '' when none is set. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') q.set(name, String(value));
  const text = q.toString();
  return text === '' ? '' : `?${text}`;
}

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

/** Splits a text/event-stream into events as they arrive; returns what is left of an unfinished event. */
export function parseSse(buffer: string, emit: (event: SseEvent) => void): string {
  const blocks = buffer.replace(/\r\n?/g, '\n').split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    let id: string | undefined;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length > 0 || event !== 'message') emit({ id, event, data: data.join('\n') });
  }
  return rest;
}

/**
 * Follows a job's log (GET /jobs/{id}/logs) with fetch and a stream reader: EventSource cannot send the
 * key as a header. After a dropped connection it resumes from the last event id, as EventSource would.
 * Resolves when the stream sent `end`, the signal aborted, or the server refused it.
 */
export async function followLog(path: string, signal: AbortSignal, onEvent: (event: SseEvent) => void, onProblem: (message: string) => void): Promise<void> {
  let lastId: string | undefined;
  let ended = false;
  while (!signal.aborted && !ended) {
    try {
      const response = await fetch(path, { headers: headers({ accept: 'text/event-stream', ...(lastId ? { 'last-event-id': lastId } : {}) }), signal, cache: 'no-store', credentials: 'omit' });
      if (!response.ok || response.body === null) {
        const answer = await response.text();
        let message = `HTTP ${response.status}`;
        try { message = (JSON.parse(answer) as { error: { message: string } }).error.message; } catch { /* not the error shape */ }
        onProblem(message);
        return;
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = parseSse(buffer + value, (event) => {
          if (event.id !== undefined) lastId = event.id;
          if (event.event === 'end') ended = true;
          onEvent(event);
        });
      }
    } catch (error) {
      if (signal.aborted) return;
      onProblem(`the log stream dropped (${String(error)}); reconnecting`);
    }
    // 2 s: a server restarting is back by then more often than not, and a loop must not spin.
    if (!ended && !signal.aborted) await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}
