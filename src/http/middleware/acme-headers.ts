/**
 * Headers every ACME response carries (RFC 8555 §6.5, §7.1): a fresh Replay-Nonce, so a client
 * never needs an extra newNonce round trip, and the Link to the directory.
 */
import { randomBytes } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { HttpContext } from '../context.js';

export function acmeHeaders(ctx: HttpContext) {
  const indexLink = `<${ctx.links.directory()}>;rel="index"`;
  return (_req: Request, res: Response, next: NextFunction): void => {
    res.locals.requestId = randomBytes(8).toString('hex');
    res.setHeader('Replay-Nonce', ctx.nonces.issue());
    res.setHeader('Link', [indexLink]);
    next();
  };
}

/** Adds a Link header value without dropping the ones already set. */
export function addLink(res: Response, link: string): void {
  const current = res.getHeader('Link');
  const list = Array.isArray(current) ? current : current === undefined ? [] : [String(current)];
  res.setHeader('Link', [...list, link]);
}
