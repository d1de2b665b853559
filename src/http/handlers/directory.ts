/** GET /directory (RFC 8555 §7.1.1) and newNonce (§7.2). */
import type { RequestHandler } from 'express';
import type { HttpContext } from '../context.js';

export function directory(ctx: HttpContext): RequestHandler {
  return (_req, res) => {
    const meta = ctx.directoryMeta();
    const l = ctx.links;
    res.json({
      newNonce: l.newNonce(),
      newAccount: l.newAccount(),
      newOrder: l.newOrder(),
      revokeCert: l.revokeCert(),
      keyChange: l.keyChange(),
      renewalInfo: l.renewalInfo(),
      meta: {
        ...(meta.termsOfService ? { termsOfService: meta.termsOfService } : {}),
        ...(meta.website ? { website: meta.website } : {}),
        externalAccountRequired: meta.externalAccountRequired,
        profiles: meta.profiles,
      },
    });
  };
}

/** §7.2: HEAD answers 200, GET 204; the nonce itself is in Replay-Nonce (set for every response). */
export function newNonce(status: 200 | 204): RequestHandler {
  return (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.status(status).end();
  };
}
