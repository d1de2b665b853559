/**
 * The verified-request gate every ACME POST passes: content type, size-bounded body, then the
 * JWS rules of RFC 8555 §6 (acme/jws). Handlers find the result in `res.locals.acme`.
 */
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { verifyRequest, type KeyMode, type VerifiedRequest } from '../../acme/jws.js';
import { AcmeProblem, problems } from '../../acme/problem.js';
import type { HttpContext } from '../context.js';

/** §6.2: the body must be sent as application/jose+json; anything else is 415. */
function requireJoseJson(req: Request, _res: Response, next: NextFunction): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/jose+json') {
    next(new AcmeProblem('malformed', `Content-Type must be application/jose+json, got ${JSON.stringify(type || 'none')}`, { status: 415 }));
    return;
  }
  next();
}

export function authenticate(ctx: HttpContext, mode: KeyMode): RequestHandler[] {
  const rawBody = express.raw({ type: () => true, limit: ctx.maxRequestBytes });
  const verify: RequestHandler = async (req, res, next) => {
    if (!Buffer.isBuffer(req.body) || req.body.length === 0) throw problems.malformed('request body is empty; a JWS is required');
    const requestUrl = ctx.links.baseUrl + req.originalUrl;
    const verified: VerifiedRequest = await verifyRequest(req.body, requestUrl, mode, {
      consumeNonce: (n) => ctx.nonces.consume(n),
      findAccountByKid: async (kid) => {
        const id = ctx.links.accountIdFromUrl(kid);
        return id ? ((await ctx.store.getAccount(id)) ?? undefined) : undefined;
      },
    });
    res.locals.acme = verified;
    next();
  };
  return [requireJoseJson, rawBody, verify];
}

export function verifiedRequest(res: Response): VerifiedRequest {
  return res.locals.acme as VerifiedRequest;
}
