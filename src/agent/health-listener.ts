/**
 * The agent's plain-HTTP listener: `/healthz` (200 while every certificate is ok or merely
 * retrying inside its window, 503 with the reasons once one is overdue, expired or on its fallback credential) and
 * `/metrics` (the agent's own prom-client Registry). Keep it on loopback or a pod network.
 */
import http from 'node:http';
import { parseHostPort } from '../config/settings.js';
import type { Agent } from './agent.js';

/** A running listener. */
export interface HealthListener {
  address: { host: string; port: number };
  close(): Promise<void>;
}

export async function startHealthListener(listen: string, agent: Agent): Promise<HealthListener> {
  const { host, port } = parseHostPort(listen)!;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      const certificates = agent.status().map((s) => ({ id: s.id, health: s.health, failures: s.failures, notAfter: s.notAfter ? new Date(s.notAfter).toISOString() : null }));
      const bad = certificates.some((c) => c.health === 'overdue' || c.health === 'expired' || c.health === 'fallback');
      res.writeHead(bad ? 503 : 200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(JSON.stringify({ status: bad ? 'unhealthy' : 'ok', certificates }));
      return;
    }
    if (path === '/metrics') {
      // Time-dependent gauges (overdue, expired) are as of this scrape, not of the last attempt.
      for (const w of agent.workers) w.updateGauges();
      agent.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': agent.metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address();
  const address = typeof a === 'object' && a ? { host: a.address, port: a.port } : { host, port };
  return {
    address,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
