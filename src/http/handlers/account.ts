/** Account resources (RFC 8555 §7.3): newAccount, the account URL, its orders list, keyChange. */
import type { RequestHandler, Response } from 'express';
import { problems } from '../../acme/problem.js';
import { accountJson } from '../../acme/representations.js';
import type { AccountRecord } from '../../store/types.js';
import type { HttpContext } from '../context.js';
import { addLink } from '../middleware/acme-headers.js';
import { verifiedRequest } from '../middleware/authenticate.js';

const ORDERS_PAGE_SIZE = 100;

/** The kid account must be the account the URL names (§7.3.2). */
function ownAccount(res: Response, id: string | string[] | undefined): AccountRecord {
  const account = verifiedRequest(res).account!;
  if (account.id !== id) throw problems.unauthorized('the request is not signed by this account\'s key');
  return account;
}

export function newAccount(ctx: HttpContext): RequestHandler {
  return async (req, res) => {
    const v = verifiedRequest(res);
    const { account, created } = await ctx.accounts.register(v.jwk!, v.thumbprint, v.payload, req.ip);
    res.setHeader('Location', ctx.links.account(account.id));
    res.status(created ? 201 : 200).json(accountJson(account, ctx.links));
  };
}

export function updateAccount(ctx: HttpContext): RequestHandler {
  return async (req, res) => {
    const account = ownAccount(res, req.params.id);
    const updated = await ctx.accounts.update(account, verifiedRequest(res).payload);
    res.json(accountJson(updated, ctx.links));
  };
}

export function accountOrders(ctx: HttpContext): RequestHandler {
  return async (req, res) => {
    const account = ownAccount(res, req.params.id);
    if (verifiedRequest(res).payload !== undefined) throw problems.malformed('the orders list is read with POST-as-GET (empty payload)');
    const cursor = typeof req.query.cursor === 'string' ? req.query.cursor : undefined;
    const page = await ctx.store.listAccountOrders(account.id, ORDERS_PAGE_SIZE, cursor);
    if (page.next) addLink(res, `<${ctx.links.accountOrders(account.id, page.next)}>;rel="next"`);
    res.json({ orders: page.ids.map((id) => ctx.links.order(id)) });
  };
}

export function keyChange(ctx: HttpContext): RequestHandler {
  return async (req, res) => {
    const v = verifiedRequest(res);
    const account = v.account!;
    const updated = await ctx.accounts.changeKey(account, ctx.links.account(account.id), ctx.links.baseUrl + req.originalUrl, v.payload);
    res.setHeader('Location', ctx.links.account(updated.id));
    res.json(accountJson(updated, ctx.links));
  };
}
