/** The admin API's certificate calls: search, expiring soon, revoke. */
import type { Request, Router } from 'express';
import { canonicalSerial } from '../ca/certificate-builder.js';
import { parseDuration } from '../config/settings.js';
import { parseSubscriberReason, subscriberReasonList } from '../domain/revocation.js';
import type { CertificateQuery } from '../store/types.js';
import { certificateJson, HttpError, type AdminContext, type RouteFactory } from './admin-api.js';

/** Registers the certificate calls on the admin router. */
export function certificateRoutes(r: Router, route: RouteFactory, ctx: AdminContext): void {
  r.get('/admin/certificates', route('certificates:read', async (req) => (await ctx.store.searchCertificates(queryOf(req))).map(certificateJson)));
  r.get(
    '/admin/certificates/expiring',
    route('certificates:read', async (req) => {
      const within = parseDuration(String(req.query.within ?? '24h'));
      if (within === undefined) throw new HttpError(400, 'within must be a duration such as 24h');
      const now = Date.now();
      return (await ctx.store.searchCertificates({ expiresAfter: new Date(now), expiresBefore: new Date(now + within), revoked: false, limit: 1000 })).map(certificateJson);
    }),
  );
  r.post(
    '/admin/certificates/:serial/revoke',
    route('certificates:revoke', async (req, admin) => {
      const serial = canonicalSerial(String(req.params.serial));
      const cert = await ctx.store.findCertificateBySerial(serial);
      if (!cert) throw new HttpError(404, `no certificate with serial ${serial}`);
      // By name or by code, like `anvil revoke --reason`.
      const reason = parseSubscriberReason((req.body as { reason?: unknown })?.reason ?? 0);
      if (reason === undefined) throw new HttpError(400, `reason must be one of ${subscriberReasonList()}`);
      const invalidityText = (req.body as { invalidityDate?: unknown })?.invalidityDate;
      const invalidity = typeof invalidityText === 'string' ? new Date(invalidityText) : null;
      if (invalidity && Number.isNaN(invalidity.getTime())) throw new HttpError(400, 'invalidityDate must be an RFC 3339 date-time');
      return certificateJson(await ctx.revocation.apply(cert, reason, invalidity, `admin:${admin.name}`));
    }),
  );
}

function queryOf(req: Request): CertificateQuery {
  const q = req.query;
  const text = (k: string) => (typeof q[k] === 'string' && q[k] !== '' ? (q[k] as string) : undefined);
  const date = (k: string) => {
    const t = text(k);
    if (t === undefined) return undefined;
    const d = new Date(t);
    if (Number.isNaN(d.getTime())) throw new HttpError(400, `${k} must be an RFC 3339 date-time`);
    return d;
  };
  const query: CertificateQuery = {};
  const set = <K extends keyof CertificateQuery>(k: K, v: CertificateQuery[K] | undefined) => {
    if (v !== undefined) query[k] = v;
  };
  set('name', text('name')?.toLowerCase());
  const serialText = text('serial');
  set('serial', serialText === undefined ? undefined : canonicalSerial(serialText));
  set('accountId', text('account'));
  set('profile', text('profile'));
  set('issuerId', text('issuer'));
  set('expiresBefore', date('expiresBefore'));
  set('expiresAfter', date('expiresAfter'));
  if (text('revoked') !== undefined) query.revoked = text('revoked') === 'true';
  if (text('limit') !== undefined) query.limit = Number(text('limit'));
  return query;
}
