/** Order resources (RFC 8555 §7.4): newOrder, the order URL, finalize. */
import { checkPayload } from '../../acme/payloads.js';
import type { RequestHandler, Response } from 'express';
import { problems } from '../../acme/problem.js';
import { orderJson } from '../../acme/representations.js';
import { orderStatus } from '../../domain/status.js';
import type { OrderRecord } from '../../store/types.js';
import type { HttpContext } from '../context.js';
import { verifiedRequest } from '../middleware/authenticate.js';

/** Seconds a client should wait before polling an order or challenge that is processing. */
export const PROCESSING_RETRY_AFTER = '1';

async function ownOrder(ctx: HttpContext, res: Response, id: string | string[] | undefined): Promise<OrderRecord> {
  const order = typeof id === 'string' ? await ctx.store.getOrder(id) : null;
  if (!order) throw problems.notFound('order');
  if (order.accountId !== verifiedRequest(res).account!.id) throw problems.unauthorized('this order belongs to another account');
  return order;
}

function sendOrder(ctx: HttpContext, res: Response, order: OrderRecord, status = 200): void {
  if (orderStatus(order, Date.now()) === 'processing') res.setHeader('Retry-After', PROCESSING_RETRY_AFTER);
  res.status(status).json(orderJson(order, ctx.links));
}

export function newOrder(ctx: HttpContext): RequestHandler {
  return async (_req, res) => {
    const v = verifiedRequest(res);
    const order = await ctx.orders.create(v.account!, v.payload);
    res.setHeader('Location', ctx.links.order(order.id));
    sendOrder(ctx, res, order, 201);
  };
}

export function getOrder(ctx: HttpContext): RequestHandler {
  return async (req, res) => {
    const order = await ownOrder(ctx, res, req.params.id);
    if (verifiedRequest(res).payload !== undefined) throw problems.malformed('an order is read with POST-as-GET (empty payload)');
    sendOrder(ctx, res, order);
  };
}

export function finalize(ctx: HttpContext): RequestHandler {
  return async (req, res) => {
    const order = await ownOrder(ctx, res, req.params.id);
    const v = verifiedRequest(res);
    const csr = checkPayload('finalize', v.payload).csr;
    if (typeof csr !== 'string' || !/^[A-Za-z0-9_-]+$/.test(csr)) throw problems.malformed('"csr" must be the base64url DER of a PKCS#10 CSR');
    const updated = await ctx.issuance.finalize(v.account!, order, new Uint8Array(Buffer.from(csr, 'base64url')));
    res.setHeader('Location', ctx.links.order(updated.id));
    sendOrder(ctx, res, updated);
  };
}
