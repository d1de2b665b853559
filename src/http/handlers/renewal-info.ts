/** GET renewalInfo/<certID> (RFC 9773 §4): unauthenticated, with Retry-After. */
import type { RequestHandler } from 'express';
import type { HttpContext } from '../context.js';

export function renewalInfo(ctx: HttpContext): RequestHandler {
  return async (req, res) => {
    const window = await ctx.renewalInfo.window(String(req.params.certId));
    res.setHeader('Retry-After', String(window.retryAfterSeconds));
    res.json({ suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() } });
  };
}
