/** The express application for the ACME edge: common headers, request log, routes, problems. */
import express, { type Express } from 'express';
import type { HttpContext } from './context.js';
import { acmeHeaders } from './middleware/acme-headers.js';
import { errorHandler } from './middleware/errors.js';
import { requestLog } from './middleware/request-log.js';
import type { RevocationHandler } from './revocation-routes.js';
import { acmeRoutes } from './routes.js';

export function createAcmeApp(ctx: HttpContext, revocation: RevocationHandler): Express {
  const app = bareApp();
  app.use(requestLog(ctx.log));
  // OCSP and CRLs share the listener but are not ACME resources: no nonces, no problem documents.
  app.use((req, res, next) => {
    if (!revocation(req, res)) next();
  });
  app.use(acmeHeaders(ctx));
  app.use(acmeRoutes(ctx));
  app.use(errorHandler(ctx.log));
  return app;
}

function bareApp(): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  return app;
}
