/**
 * A plain-HTTP proxy in front of a revocation listener, standing where a CDN would (the server's
 * `--revocation-base-url` points at it). OCSP and everything else is forwarded as is; CRLs are
 * cached forever from their first download, ignoring nextUpdate — a misconfigured cache that
 * goes on serving a CRL after it has gone stale (RFC 5280 §5.1.2.5), as a relying party then sees it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RevocationProxy {
  port: number;
  baseUrl: string;
  /** CRL paths served from the cache, with how often each was served from it. */
  cachedHits: Map<string, number>;
  close(): Promise<void>;
}

export async function startRevocationProxy(upstreamBase: string, port = 0): Promise<RevocationProxy> {
  const cache = new Map<string, { status: number; headers: http.IncomingHttpHeaders; body: Buffer }>();
  const cachedHits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    const cached = req.method === 'GET' && path.startsWith('/crl/') ? cache.get(path) : undefined;
    if (cached) {
      cachedHits.set(path, (cachedHits.get(path) ?? 0) + 1);
      res.writeHead(cached.status, { 'Content-Type': String(cached.headers['content-type'] ?? 'application/pkix-crl') });
      res.end(cached.body);
      return;
    }
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', () => {
      const headers = { ...req.headers };
      delete headers.host;
      const upstream = http.request(`${upstreamBase}${path}`, { method: req.method, headers, agent: false }, (up) => {
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const data = Buffer.concat(chunks);
          if (req.method === 'GET' && path.startsWith('/crl/') && up.statusCode === 200) cache.set(path, { status: 200, headers: up.headers, body: data });
          res.writeHead(up.statusCode ?? 502, { 'Content-Type': String(up.headers['content-type'] ?? 'application/octet-stream') });
          res.end(data);
        });
      });
      upstream.on('error', (e) => {
        res.writeHead(502);
        res.end(e.message);
      });
      upstream.end(Buffer.concat(body));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    baseUrl: `http://127.0.0.1:${bound}`,
    cachedHits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
