/**
 * The route table: every ACME resource, its method and its middleware chain, top to bottom.
 * Paths come from acme/links so URLs handed out and routes served cannot disagree.
 */
import express, { type RequestHandler, type Router } from 'express';
import { PATHS } from '../acme/links.js';
import { AcmeProblem, problems } from '../acme/problem.js';
import type { HttpContext } from './context.js';
import { accountOrders, keyChange, newAccount, updateAccount } from './handlers/account.js';
import { authorization, challenge } from './handlers/authz.js';
import { downloadCertificate, revokeCertificate } from './handlers/certificate.js';
import { directory, newNonce, trustBundle } from './handlers/directory.js';
import { finalize, getOrder, newOrder } from './handlers/order.js';
import { renewalInfo } from './handlers/renewal-info.js';
import { authenticate } from './middleware/authenticate.js';

export function acmeRoutes(ctx: HttpContext): Router {
  const r = express.Router({ caseSensitive: true, strict: true });
  const jwk = authenticate(ctx, 'jwk');
  const kid = authenticate(ctx, 'kid');
  const either = authenticate(ctx, 'either');

  r.get(PATHS.directory, directory(ctx));
  r.head(PATHS.newNonce, newNonce(200));
  r.get(PATHS.newNonce, newNonce(204));
  r.post(PATHS.newAccount, ...jwk, newAccount(ctx));
  r.post(PATHS.accountOrders, ...kid, accountOrders(ctx));
  r.post(PATHS.account, ...kid, updateAccount(ctx));
  r.post(PATHS.keyChange, ...kid, keyChange(ctx));
  r.post(PATHS.newOrder, ...kid, newOrder(ctx));
  r.post(PATHS.finalize, ...kid, finalize(ctx));
  r.post(PATHS.order, ...kid, getOrder(ctx));
  r.post(PATHS.authz, ...kid, authorization(ctx));
  r.post(PATHS.challenge, ...kid, challenge(ctx));
  r.post(PATHS.certificate, ...kid, downloadCertificate(ctx));
  r.post(PATHS.certificateAlternate, ...kid, downloadCertificate(ctx));
  r.get(PATHS.trustBundle, trustBundle(ctx, 'json'));
  r.get(PATHS.trustBundlePem, trustBundle(ctx, 'pem'));
  r.post(PATHS.revokeCert, ...either, revokeCertificate(ctx));
  r.get(PATHS.renewalInfo, renewalInfo(ctx));

  // §6.3: every resource but the directory and newNonce is POST-only; say so with 405 + Allow.
  const allowed: Record<string, string> = { [PATHS.directory]: 'GET, HEAD', [PATHS.newNonce]: 'GET, HEAD', [PATHS.renewalInfo]: 'GET, HEAD', [PATHS.trustBundle]: 'GET, HEAD', [PATHS.trustBundlePem]: 'GET, HEAD' };
  for (const path of Object.values(PATHS)) {
    r.all(path, methodNotAllowed(allowed[path] ?? 'POST'));
  }
  r.use((_req, _res, next) => next(problems.notFound('resource')));
  return r;
}

function methodNotAllowed(allow: string): RequestHandler {
  return (_req, res, next) => {
    res.setHeader('Allow', allow);
    next(new AcmeProblem('malformed', `method not allowed; use ${allow}`, { status: 405 }));
  };
}
