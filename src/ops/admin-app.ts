/**
 * The admin listener's application: /metrics (Prometheus text), /healthz, /readyz (unauthenticated,
 * read-only), the operator dashboard at /ui/ and the token-authenticated admin API.
 */
import express, { type Express } from 'express';
import { adminRoutes, type AdminContext } from './admin-api.js';
import type { Readiness } from './health.js';
import { registry } from './metrics.js';
import { uiRoutes } from './ui/ui-routes.js';

export function createAdminApp(admin: AdminContext, readiness: Readiness): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const checks = await readiness.checks();
    const ready = checks.every((c) => c.ok);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unready', checks });
  });
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', registry.contentType);
    res.send(await registry.metrics());
  });
  // The dashboard first: the admin API's authentication applies to every path after it.
  if (admin.sessions) app.use(uiRoutes({ ...admin, sessions: admin.sessions }));
  app.use(adminRoutes(admin));
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  return app;
}
