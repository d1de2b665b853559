/** The express application for the ACME edge: common headers, request log, routes, problems. */
import express, { type Express } from 'express';
import type { HttpContext } from './context.js';
import { acmeHeaders } from './middleware/acme-headers.js';
import { errorHandler } from './middleware/errors.js';
import { requestLog } from './middleware/request-log.js';
import { acmeRoutes } from './routes.js';

export function createAcmeApp(ctx: HttpContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  app.use(requestLog(ctx.log));
  app.use(acmeHeaders(ctx));
  app.use(acmeRoutes(ctx));
  app.use(errorHandler(ctx.log));
  return app;
}
