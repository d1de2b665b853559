/**
 * The status machines of RFC 8555 §7.1.6, as derived from stored state. Stored statuses change only
 * by explicit transitions in the store; what depends on time or on other objects is computed here:
 * an authorization past its expiry is `expired`; an order is `ready` when every authorization is
 * valid and `invalid` when one of them can no longer become valid or the order itself expired.
 */
import type { AuthzStatus, OrderAuthzSummary, OrderRecord } from '../store/types.js';

export type OrderStatus = 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';

export function authzStatus(a: Pick<OrderAuthzSummary, 'status' | 'expiresAt'>, now: number): AuthzStatus {
  if ((a.status === 'pending' || a.status === 'valid') && a.expiresAt.getTime() <= now) return 'expired';
  return a.status;
}

export function orderStatus(order: OrderRecord, now: number): OrderStatus {
  if (order.status !== 'pending') return order.status;
  if (order.expiresAt.getTime() <= now) return 'invalid';
  let allValid = true;
  for (const a of order.authorizations) {
    const s = authzStatus(a, now);
    if (s === 'invalid' || s === 'deactivated' || s === 'expired' || s === 'revoked') return 'invalid';
    if (s !== 'valid') allValid = false;
  }
  return allValid ? 'ready' : 'pending';
}
