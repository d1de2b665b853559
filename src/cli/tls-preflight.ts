/**
 * Before a command hands a server to an ACME client library, one bounded GET of the directory
 * says plainly what is wrong: an untrusted TLS certificate, a refused connection, a timeout or a
 * non-200 answer. (acme-client retries such failures for over a minute and then reports an
 * internal TypeError.)
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** TLS verification failures, as Node's error codes name them. */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Resolves when `url` answers 200 within `timeoutMs`; rejects with a message a person can act on. */
export function checkDirectoryReachable(url: string, ca: string | Buffer | undefined, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      reject(new Error(`${JSON.stringify(url)} is not a URL`));
      return;
    }
    const send = parsed.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(parsed, { ...(ca !== undefined ? { ca } : {}), timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      if (res.statusCode === 200) resolve();
      else reject(new Error(`${url} answered HTTP ${res.statusCode}, not an ACME directory`));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? '';
      if (UNTRUSTED.has(code)) {
        const hint = ca !== undefined ? 'the file given with --ca-file does not hold the root that signed it' : 'pass --ca-file with the root that signed it (for Anvil: <data-dir>/root.pem)';
        reject(new Error(`the TLS certificate of ${parsed.host} is not trusted (${code}: ${e.message}); ${hint}`));
      } else if (code === 'ETIMEDOUT') reject(new Error(`no answer from ${url} within ${Math.round(timeoutMs / 1000)} s`));
      else if (code === 'ECONNREFUSED') reject(new Error(`cannot connect to ${parsed.host}: connection refused`));
      else reject(new Error(`cannot reach ${url}: ${e.message}`));
    });
    req.end();
  });
}
