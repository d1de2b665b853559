/**
 * A real HTTP server on 127.0.0.1 that answers http-01 challenges with the key authorizations a
 * test puts in it (and 404 otherwise), for the CA's validator to fetch.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Http01Responder {
  port: number;
  set(token: string, keyAuthorization: string): void;
  /** Serve an arbitrary response for a token (status, body, headers; `delayMs` holds it back, as a stalled site does), for failure tests. */
  setRaw(token: string, response: RawAnswer): void;
  delete(token: string): void;
  /** Answers the requests for `token` that a `delayMs` is holding back, now. */
  release(token: string): void;
  /** Paths requested so far, in order. */
  requests: string[];
  close(): Promise<void>;
}

interface RawAnswer {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  delayMs?: number;
}

export async function startHttp01Responder(port = 0): Promise<Http01Responder> {
  const answers = new Map<string, RawAnswer>();
  const requests: string[] = [];
  const held = new Map<string, (() => void)[]>();
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
    let sent = false;
    const send = () => {
      if (sent || res.destroyed) return;
      sent = true;
      res.writeHead(answer.status, answer.headers ?? { 'Content-Type': 'application/octet-stream' });
      res.end(answer.body ?? '');
    };
    if (!answer.delayMs) return send();
    setTimeout(send, answer.delayMs).unref();
    held.set(token, [...(held.get(token) ?? []), send]);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    set: (token, keyAuthorization) => void answers.set(token, { status: 200, body: keyAuthorization }),
    setRaw: (token, response) => void answers.set(token, response),
    delete: (token) => void answers.delete(token),
    release: (token) => {
      for (const send of held.get(token) ?? []) send();
      held.delete(token);
    },
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
