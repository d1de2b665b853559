/** A bounded GET over HTTPS (or HTTP) trusting the agent's CA bundle, for ARI and the trust bundle. */
import http from 'node:http';
import https from 'node:https';

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
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY) request.destroy(new Error(`GET ${url}: body larger than ${MAX_BODY} bytes`));
        else chunks.push(chunk);
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out after ${options.timeoutMs} ms`)));
    request.on('error', reject);
  });
}
