/** Authorization and challenge resources (RFC 8555 §7.5). */
import type { RequestHandler, Response } from 'express';
import { problems } from '../../acme/problem.js';
import { authzJson, challengeJson } from '../../acme/representations.js';
import type { AuthzRecord } from '../../store/types.js';
import type { HttpContext } from '../context.js';
import { addLink } from '../middleware/acme-headers.js';
import { verifiedRequest } from '../middleware/authenticate.js';
import { PROCESSING_RETRY_AFTER } from './order.js';

async function ownAuthz(ctx: HttpContext, res: Response, id: string | undefined): Promise<AuthzRecord> {
  const authz = id ? await ctx.store.getAuthz(id) : null;
  if (!authz) throw problems.notFound('authorization');
  if (authz.accountId !== verifiedRequest(res).account!.id) throw problems.unauthorized('this authorization belongs to another account');
  return authz;
}

export function authorization(ctx: HttpContext): RequestHandler {
  return async (req, res) => {
    const authz = await ownAuthz(ctx, res, typeof req.params.id === 'string' ? req.params.id : undefined);
    const updated = await ctx.authorizations.update(authz, verifiedRequest(res).payload);
    if (updated.challenges.some((c) => c.status === 'processing')) res.setHeader('Retry-After', PROCESSING_RETRY_AFTER);
    res.json(authzJson(updated, ctx.links, ctx.describeChallenge(authz.accountId)));
  };
}

export function challenge(ctx: HttpContext): RequestHandler {
  return async (req, res) => {
    const id = typeof req.params.id === 'string' ? req.params.id : '';
    const found = id ? await ctx.store.getChallenge(id) : null;
    if (!found) throw problems.notFound('challenge');
    const authz = await ownAuthz(ctx, res, found.authzId);
    const updated = await ctx.authorizations.respond(authz, found, verifiedRequest(res).payload);
    addLink(res, `<${ctx.links.authz(authz.id)}>;rel="up"`);
    if (updated.status === 'processing') res.setHeader('Retry-After', PROCESSING_RETRY_AFTER);
    res.json(challengeJson(updated, ctx.links, ctx.describeChallenge(authz.accountId)));
  };
}
