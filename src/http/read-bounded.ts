/**
 * Reading an HTTP body with a bound, for the request bodies Anvil serves and the answers it
 * fetches (http-01 validation, JWKS, webhooks, the agent's ARI and directory GETs). Whoever sends
 * more than the bound gets no more of our memory: reading stops and the read rejects.
 */
import type { Readable } from 'node:stream';

/** The body went past `limit` bytes. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  constructor(readonly limit: number) {
    super(`body larger than ${limit} bytes`);
  }
}

/**
 * The whole body, at most `limit` bytes. Past the bound, `stop` is called (by default the stream
 * is destroyed: right for a fetched answer; a server may rather pause and close after answering)
 * and the read rejects with BodyTooLargeError.
 */
export function readBounded(stream: Readable, limit: number, stop: () => void = () => stream.destroy()): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        stream.off('data', onData);
        stop();
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    stream.on('data', onData);
    stream.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    stream.once('error', reject);
  });
}
