import type { IncomingMessage } from 'node:http';

/**
 * A request body, whole, or undefined once it is larger than `maxBytes` (the rest is not read): the
 * gateway reads a Messages call's body before forwarding it when the rate limit or a budget must see it first.
 */
export function readRequestBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise<Buffer | undefined>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData);
        req.pause();
        parts.length = 0;
        resolve(undefined);
        return;
      }
      parts.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(parts)));
    req.once('error', reject);
  });
}
