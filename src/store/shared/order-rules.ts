/** Order rules written once in SQL for every backend; the caller names its own parameter for "now". */

/** Orders that are not invalid (the rule of domain/status.ts, in SQL), for the list and `replaces`. */
export function notInvalidOrder(now: string): string {
  return `o.status != 'invalid'
  AND NOT (o.status = 'pending' AND (o.expires_at <= ${now} OR EXISTS (
    SELECT 1 FROM order_authzs oa JOIN authzs a ON a.id = oa.authz_id WHERE oa.order_id = o.id
    AND (a.status IN ('invalid', 'deactivated', 'revoked') OR a.expires_at <= ${now}))))`;
}
