/**
 * A real HTTP server on 127.0.0.1 that answers http-01 challenges with the key authorizations a
 * test puts in it (and 404 otherwise), for the CA's validator to fetch.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Http01Responder {
  port: number;
  set(token: string, keyAuthorization: string): void;
  /** Serve an arbitrary response for a token (status, body, headers), for failure tests. */
  setRaw(token: string, response: { status: number; body?: string; headers?: Record<string, string> }): void;
  delete(token: string): void;
  /** Paths requested so far, in order. */
  requests: string[];
  close(): Promise<void>;
}

export async function startHttp01Responder(port = 0): Promise<Http01Responder> {
  const answers = new Map<string, { status: number; body?: string; headers?: Record<string, string> }>();
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const prefix = '/.well-known/acme-challenge/';
    const token = req.url?.startsWith(prefix) ? req.url.slice(prefix.length) : '';
    const answer = answers.get(token);
    if (!answer) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    res.writeHead(answer.status, answer.headers ?? { 'Content-Type': 'application/octet-stream' });
    res.end(answer.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    set: (token, keyAuthorization) => void answers.set(token, { status: 200, body: keyAuthorization }),
    setRaw: (token, response) => void answers.set(token, response),
    delete: (token) => void answers.delete(token),
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
