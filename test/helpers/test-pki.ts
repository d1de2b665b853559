/**
 * A throwaway PKI made with openssl for HTTPS peers the CA calls (webhook approval services):
 * a root and a server certificate for 127.0.0.1/localhost signed by it, plus a loopback HTTPS
 * server using them whose handler the test writes.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describeRun, run } from '../interop/harness.js';

export interface TestPki {
  /** PEM file of the root, e.g. for a webhook's `caFile`. */
  rootPath: string;
  rootPem: string;
  certPem: string;
  keyPem: string;
}

/** Makes `<dir>/<label>-root.pem` and a server certificate for 127.0.0.1 and localhost signed by it. */
export async function makeTestPki(dir: string, label: string): Promise<TestPki> {
  const file = (name: string) => path.join(dir, `${label}-${name}`);
  await writeFile(file('leaf.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n');
  const steps: string[][] = [
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file('root.key'), '-out', file('root.pem'), '-days', '2', '-subj', `/CN=${label} test root`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file('leaf.key'), '-out', file('leaf.csr'), '-subj', '/CN=127.0.0.1'],
    ['x509', '-req', '-in', file('leaf.csr'), '-CA', file('root.pem'), '-CAkey', file('root.key'), '-CAcreateserial', '-days', '2', '-out', file('leaf.pem'), '-extfile', file('leaf.ext')],
  ];
  for (const args of steps) {
    const result = await run('openssl', args, { timeoutMs: 20_000, cwd: dir });
    if (result.code !== 0) throw new Error(`openssl failed while making the ${label} test PKI\n${describeRun(result)}`);
  }
  return {
    rootPath: file('root.pem'),
    rootPem: await readFile(file('root.pem'), 'utf8'),
    certPem: await readFile(file('leaf.pem'), 'utf8'),
    keyPem: await readFile(file('leaf.key'), 'utf8'),
  };
}

export interface HttpsPeer {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** An HTTPS server on 127.0.0.1 presenting the PKI's server certificate. */
export async function startHttpsPeer(pki: TestPki, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<HttpsPeer> {
  const server = createServer({ cert: pki.certPem, key: pki.keyPem }, handler);
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The request body as JSON (for a handler). */
export function readJson(req: IncomingMessage): Promise<any> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      try {
        resolve(body ? JSON.parse(body) : undefined);
      } catch (e) {
        reject(e);
      }
    });
    req.on('error', reject);
  });
}
