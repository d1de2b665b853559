/** A bounded GET over HTTPS (or HTTP) trusting the agent's CA bundle, for ARI and the trust bundle. */
import http from 'node:http';
import https from 'node:https';
import { BodyTooLargeError, readBounded } from '../http/read-bounded.js';

/** What a GET answered. */
export interface GetResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const MAX_BODY = 4 * 1024 * 1024;

/** GETs `url` with `ca` as the only trust (undefined: the system store); rejects on timeout or network errors. */
export function httpsGet(url: string, options: { ca?: string | undefined; agent?: https.Agent | undefined; timeoutMs: number; headers?: Record<string, string> }): Promise<GetResult> {
  const target = new URL(url);
  const lib = target.protocol === 'http:' ? http : https;
  return new Promise((resolve, reject) => {
    const tlsOptions = target.protocol === 'https:' && options.agent ? { agent: options.agent } : { agent: false as const, ...(options.ca ? { ca: options.ca } : {}) };
    const request = lib.get(target, { ...tlsOptions, headers: options.headers ?? {}, timeout: options.timeoutMs }, (response) => {
      readBounded(response, MAX_BODY).then(
        (body) => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        (e: Error) => reject(e instanceof BodyTooLargeError ? new Error(`GET ${url}: ${e.message}`) : e),
      );
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out after ${options.timeoutMs} ms`)));
    request.on('error', reject);
  });
}
