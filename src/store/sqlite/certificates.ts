/** Issuance in SQLite: serial reservation, the certificate recorded with its valid order, lookups. */
import type { ProblemDocument } from '../../acme/problem.js';
import { ConflictError } from '../errors.js';
import { newId } from '../ids.js';
import type { Store } from '../store.js';
import type { CertificateRecord, NewCertificate } from '../types.js';
import type { SqliteContext } from './context.js';
import { toCertificate, type CertificateRow } from './rows.js';

type CertificateMethods = Pick<
  Store,
  'countExpiringCertificates' | 'beginFinalize' | 'completeFinalize' | 'abortFinalize' | 'listProcessingOrders' | 'getCertificate' | 'findCertificateBySerial' | 'issuerCertificateStats' | 'searchCertificates'
>;

export function certificateMethods(ctx: SqliteContext): CertificateMethods {
  const { db } = ctx;
  const s = {
    beginFinalize: db.prepare("UPDATE orders SET status = 'processing', csr = ? WHERE id = ? AND status = 'pending'"),
    reserveSerial: db.prepare('INSERT INTO serials (serial, issuer_id, order_id, reserved_at) VALUES (?, ?, ?, ?)'),
    insertCertificate: db.prepare(
      `INSERT INTO certificates (id, serial, issuer_id, account_id, order_id, profile, identifiers, not_before, not_after,
       der, chain_pem, spki_sha256, issued_at, crl_shard, profile_hash, renewal_start, renewal_end)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    completeOrder: db.prepare("UPDATE orders SET status = 'valid', certificate_id = ? WHERE id = ? AND status = 'processing'"),
    abortOrder: db.prepare("UPDATE orders SET status = ?, error = ? WHERE id = ? AND status = 'processing'"),
    orderAccount: db.prepare<[string], { account_id: string }>('SELECT account_id FROM orders WHERE id = ?'),
    processingOrders: db.prepare<[], { id: string; csr: Buffer }>("SELECT id, csr FROM orders WHERE status = 'processing'"),
    byId: db.prepare<[string], CertificateRow>('SELECT * FROM certificates WHERE id = ?'),
    bySerial: db.prepare<[string], CertificateRow>('SELECT * FROM certificates WHERE serial = ?'),
    expiring: db.prepare<[number, number], { n: number }>(
      'SELECT COUNT(*) AS n FROM certificates WHERE not_after > ? AND not_after <= ? AND revoked_at IS NULL',
    ),
    issuerStats: db.prepare<[number, string], { unexpired: number; last: number | null }>(
      'SELECT SUM(CASE WHEN not_after > ? THEN 1 ELSE 0 END) AS unexpired, MAX(not_after) AS last FROM certificates WHERE issuer_id = ?',
    ),
  };

  return {
    async beginFinalize(orderId: string, csr: Uint8Array, serial: string, issuerId: string) {
      const begun = db.transaction(() => {
        if (s.beginFinalize.run(Buffer.from(csr), orderId).changes !== 1) return false;
        s.reserveSerial.run(serial, issuerId, orderId, Date.now());
        const account = s.orderAccount.get(orderId)!.account_id;
        ctx.audit({ actor: `account:${account}`, action: 'order.finalizing', subject: orderId, data: { serial, issuer: issuerId } });
        return true;
      }).immediate();
      return begun ? ctx.durable(true) : false;
    },

    async completeFinalize(orderId: string, c: NewCertificate): Promise<CertificateRecord> {
      const id = newId();
      db.transaction(() => {
        s.insertCertificate.run(
          id, c.serial, c.issuerId, c.accountId, c.orderId, c.profile, JSON.stringify(c.identifiers), c.notBefore.getTime(), c.notAfter.getTime(),
          Buffer.from(c.der), c.chainPem, c.spkiSha256, Date.now(), c.crlShard, c.profileHash, c.renewalStart.getTime(), c.renewalEnd.getTime(),
        );
        if (s.completeOrder.run(id, orderId).changes !== 1) throw new ConflictError(`order ${orderId} is not processing`);
        ctx.audit({
          actor: `account:${c.accountId}`,
          action: 'certificate.issued',
          subject: c.serial,
          data: { order: orderId, names: c.identifiers.map((i) => i.value), profile: c.profile, profileHash: c.profileHash, issuer: c.issuerId, notAfter: c.notAfter.toISOString() },
        });
      }).immediate();
      return ctx.durable(toCertificate(s.byId.get(id)!));
    },

    async abortFinalize(orderId: string, outcome: { status: 'pending' } | { status: 'invalid'; error: ProblemDocument }) {
      db.transaction(() => {
        if (s.abortOrder.run(outcome.status, outcome.status === 'invalid' ? JSON.stringify(outcome.error) : null, orderId).changes === 1) {
          ctx.audit({ actor: 'system:issuance', action: 'order.finalize-aborted', subject: orderId, data: { status: outcome.status } });
        }
      }).immediate();
      await ctx.durable(undefined);
    },

    async listProcessingOrders() {
      return s.processingOrders.all().map((r) => ({ id: r.id, csr: new Uint8Array(r.csr) }));
    },

    async getCertificate(id: string) {
      const row = s.byId.get(id);
      return row ? toCertificate(row) : null;
    },

    async findCertificateBySerial(serial: string) {
      const row = s.bySerial.get(serial);
      return row ? toCertificate(row) : null;
    },

    async countExpiringCertificates(from: Date, until: Date) {
      return s.expiring.get(from.getTime(), until.getTime())?.n ?? 0;
    },

    async issuerCertificateStats(issuerId: string, now: Date) {
      const r = s.issuerStats.get(now.getTime(), issuerId);
      return { unexpired: r?.unexpired ?? 0, lastNotAfter: r?.last ? new Date(r.last) : null };
    },

    async searchCertificates(q) {
      const where: string[] = [];
      const params: Record<string, unknown> = { limit: Math.min(Math.max(q.limit ?? 100, 1), 1000) };
      if (q.serial) (where.push('serial = @serial'), (params.serial = q.serial));
      if (q.accountId) (where.push('account_id = @account'), (params.account = q.accountId));
      if (q.profile) (where.push('profile = @profile'), (params.profile = q.profile));
      if (q.issuerId) (where.push('issuer_id = @issuer'), (params.issuer = q.issuerId));
      if (q.name) (where.push('id IN (SELECT c.id FROM certificates c, json_each(c.identifiers) j WHERE json_extract(j.value, \'$.value\') = @name)'), (params.name = q.name));
      if (q.expiresBefore) (where.push('not_after < @before'), (params.before = q.expiresBefore.getTime()));
      if (q.expiresAfter) (where.push('not_after > @after'), (params.after = q.expiresAfter.getTime()));
      if (q.revoked !== undefined) where.push(q.revoked ? 'revoked_at IS NOT NULL' : 'revoked_at IS NULL');
      const sql = `SELECT * FROM certificates ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY not_after LIMIT @limit`;
      return db.prepare<[Record<string, unknown>], CertificateRow>(sql).all(params).map(toCertificate);
    },
  };
}
