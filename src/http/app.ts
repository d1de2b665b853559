/** The express application for the ACME edge: common headers, request log, routes, problems. */
import express, { type Express, type Router } from 'express';
import type { HttpContext } from './context.js';
import { acmeHeaders } from './middleware/acme-headers.js';
import { errorHandler } from './middleware/errors.js';
import { requestLog } from './middleware/request-log.js';
import { acmeRoutes } from './routes.js';

export function createAcmeApp(ctx: HttpContext, revocation: Router): Express {
  const app = bareApp();
  app.use(requestLog(ctx.log));
  // OCSP and CRLs share the listener but are not ACME resources: no nonces, no problem documents.
  app.use(revocation);
  app.use(acmeHeaders(ctx));
  app.use(acmeRoutes(ctx));
  app.use(errorHandler(ctx.log));
  return app;
}

/** The plain-HTTP revocation listener: OCSP and CRLs only. */
export function createRevocationApp(revocation: Router): Express {
  const app = bareApp();
  app.use(revocation);
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('not found\n');
  });
  return app;
}

function bareApp(): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  return app;
}
