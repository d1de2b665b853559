/** Issuance in SQLite: serial reservation, the certificate recorded with its valid order, lookups. */
import type { ProblemDocument } from '../../acme/problem.js';
import { ConflictError } from '../errors.js';
import { newId } from '../ids.js';
import type { CertificateStore } from '../store.js';
import type { CertificateRecord, NewCertificate } from '../types.js';
import type { SqliteContext } from './context.js';
import { ORDER_CLAIM_MS } from '../shared/claims.js';
import { expiringPlan, HOUR, issuedEvents, unexpiredPlan, type ExpiryPlan } from '../shared/counter-buckets.js';
import { CERT_COLUMNS, CERT_FROM, toCertificate, type CertificateRow } from './rows.js';


export function certificateMethods(ctx: SqliteContext): CertificateStore {
  const { db } = ctx;
  const s = {
    beginFinalize: db.prepare("UPDATE orders SET status = 'processing', csr = ?, claimed_until = ? WHERE id = ? AND status = 'pending'"),
    claimOrders: db.prepare<[number, number, number], { id: string; csr: Buffer }>(
      `UPDATE orders SET claimed_until = ? WHERE id IN (
         SELECT id FROM orders WHERE status = 'processing' AND (claimed_until IS NULL OR claimed_until < ?) LIMIT ?)
       RETURNING id, csr`,
    ),
    reserveSerial: db.prepare('INSERT INTO serials (serial, issuer_id, order_id, reserved_at) VALUES (?, ?, ?, ?)'),
    insertCertificate: db.prepare(
      `INSERT INTO certificates (id, serial, issuer_id, account_id, order_id, profile, identifiers, not_before, not_after,
       der, chain_pem, chain_id, spki_sha256, issued_at, crl_shard, profile_hash, renewal_start, renewal_end, predecessor_id, renewal_lead)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    // The CSR is only needed while the order is processing (to re-issue after a crash).
    completeOrder: db.prepare("UPDATE orders SET status = 'valid', certificate_id = ?, csr = NULL WHERE id = ? AND status = 'processing'"),
    abortOrder: db.prepare("UPDATE orders SET status = ?, error = ?, csr = CASE WHEN ? = 'invalid' THEN NULL ELSE csr END WHERE id = ? AND status = 'processing'"),
    orderOf: db.prepare<[string], { account_id: string; replaces: string | null }>('SELECT account_id, replaces FROM orders WHERE id = ?'),
    queueOcsp: db.prepare<[string, number]>('INSERT OR IGNORE INTO ocsp_pending (certificate_id, due_at) VALUES (?, ?)'),
    firstOcsp: db.prepare<[string, Buffer, number, number, number | null]>(
      'INSERT INTO ocsp_responses (certificate_id, der, this_update, next_update, revoked, refresh_at) VALUES (?, ?, ?, ?, 0, ?)',
    ),
    processingOrders: db.prepare<[], { id: string; csr: Buffer }>("SELECT id, csr FROM orders WHERE status = 'processing'"),
    byId: db.prepare<[string], CertificateRow>(`SELECT ${CERT_COLUMNS} FROM ${CERT_FROM} WHERE c.id = ?`),
    bySerial: db.prepare<[string], CertificateRow>(`SELECT ${CERT_COLUMNS} FROM ${CERT_FROM} WHERE c.serial = ?`),
    expiringExact: db.prepare<[number, number], { n: number }>(
      'SELECT COUNT(*) AS n FROM certificates WHERE not_after > ? AND not_after <= ? AND revoked_at IS NULL',
    ),
    issuerExpiringExact: db.prepare<[string, number, number], { n: number }>('SELECT COUNT(*) AS n FROM certificates WHERE issuer_id = ? AND not_after > ? AND not_after <= ?'),
    issuerLast: db.prepare<[string], { last: number | null }>('SELECT MAX(not_after) AS last FROM certificates WHERE issuer_id = ?'),
    issuers: db.prepare<[], { key: string }>("SELECT DISTINCT key FROM counters WHERE scope = 'expires:live'"),
  };

  /** Unrevoked certificates with notAfter in (from, until], counted as expiringPlan splits it. */
  const countExpiring = (from: number, until: number): number => {
    const plan: ExpiryPlan = expiringPlan(from, until);
    let n = 0;
    for (const [a, b] of plan.exact) n += s.expiringExact.get(a, b)?.n ?? 0;
    if (plan.hours) for (const { key } of s.issuers.all()) n += ctx.counters.sumBuckets('expires:live', key, HOUR, plan.hours[0], plan.hours[1]);
    return n;
  };

  return {
    async beginFinalize(orderId: string, csr: Uint8Array, serial: string, issuerId: string) {
      const begun = db.transaction(() => {
        if (s.beginFinalize.run(Buffer.from(csr), Date.now() + ORDER_CLAIM_MS, orderId).changes !== 1) return false;
        s.reserveSerial.run(serial, issuerId, orderId, Date.now());
        const account = s.orderOf.get(orderId)!.account_id;
        ctx.audit({ actor: `account:${account}`, action: 'order.finalizing', subject: orderId, data: { serial, issuer: issuerId } });
        return true;
      }).immediate();
      return begun ? ctx.durable(true) : false;
    },

    async completeFinalize(orderId: string, c: NewCertificate): Promise<CertificateRecord> {
      const id = newId();
      db.transaction(() => {
        const now = Date.now();
        const replaces = s.orderOf.get(orderId)?.replaces ?? null;
        const lineage = ctx.lineage.record({ id, identifiers: c.identifiers, issuedAt: now, replaces });
        const leaf = ctx.packLeaf(c.chainPem, c.der);
        s.insertCertificate.run(
          id, c.serial, c.issuerId, c.accountId, c.orderId, c.profile, JSON.stringify(c.identifiers), c.notBefore.getTime(), c.notAfter.getTime(),
          leaf.stored, leaf.chainId, c.spkiSha256, now, c.crlShard, c.profileHash, c.renewalStart.getTime(), c.renewalEnd.getTime(),
          lineage.predecessorId, lineage.renewalLead,
        );
        if (s.completeOrder.run(id, orderId).changes !== 1) throw new ConflictError(`order ${orderId} is not processing`);
        if (c.ocsp) s.firstOcsp.run(id, ctx.packOcsp(c.issuerId, c.ocsp.der), c.ocsp.thisUpdate.getTime(), c.ocsp.nextUpdate.getTime(), c.ocsp.refreshAt?.getTime() ?? null);
        else s.queueOcsp.run(id, now);
        countIssued(ctx, { accountId: c.accountId, profile: c.profile, issuerId: c.issuerId, issuedAt: now, notAfter: c.notAfter.getTime() });
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
        if (s.abortOrder.run(outcome.status, outcome.status === 'invalid' ? JSON.stringify(outcome.error) : null, outcome.status, orderId).changes === 1) {
          ctx.audit({ actor: 'system:issuance', action: 'order.finalize-aborted', subject: orderId, data: { status: outcome.status } });
        }
      }).immediate();
      await ctx.durable(undefined);
    },

    async claimStaleOrders(before, claimForMs, limit) {
      const until = Date.now() + claimForMs;
      return db.transaction(() => s.claimOrders.all(until, before.getTime(), limit)).immediate().map((r) => ({ id: r.id, csr: new Uint8Array(r.csr) }));
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
      return countExpiring(from.getTime(), until.getTime());
    },

    async issuerCertificateStats(issuerId: string, now: Date) {
      const last = s.issuerLast.get(issuerId)?.last ?? null;
      const plan = unexpiredPlan(now.getTime(), last);
      let unexpired = 0;
      for (const [a, b] of plan.exact) unexpired += s.issuerExpiringExact.get(issuerId, a, b)?.n ?? 0;
      if (plan.hours) unexpired += ctx.counters.sumBuckets('expires', issuerId, HOUR, plan.hours[0], plan.hours[1]);
      return { unexpired, lastNotAfter: last === null ? null : new Date(last) };
    },

    async searchCertificates(q) {
      const where: string[] = [];
      const params: Record<string, unknown> = { limit: Math.min(Math.max(q.limit ?? 100, 1), 1000) };
      if (q.serial) (where.push('c.serial = @serial'), (params.serial = q.serial));
      if (q.accountId) (where.push('c.account_id = @account'), (params.account = q.accountId));
      if (q.profile) (where.push('c.profile = @profile'), (params.profile = q.profile));
      if (q.issuerId) (where.push('c.issuer_id = @issuer'), (params.issuer = q.issuerId));
      if (q.name) (where.push('c.id IN (SELECT certificate_id FROM certificate_names WHERE name = @name)'), (params.name = q.name));
      if (q.expiresBefore) (where.push('c.not_after < @before'), (params.before = q.expiresBefore.getTime()));
      if (q.expiresAfter) (where.push('c.not_after > @after'), (params.after = q.expiresAfter.getTime()));
      if (q.revoked !== undefined) where.push(q.revoked ? 'c.revoked_at IS NOT NULL' : 'c.revoked_at IS NULL');
      const sql = `SELECT ${CERT_COLUMNS} FROM ${CERT_FROM} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY c.not_after LIMIT @limit`;
      return db.prepare<[Record<string, unknown>], CertificateRow>(sql).all(params).map(toCertificate);
    },
  };
}

/** The counters an issued certificate moves: issuance (anomaly baselines) and expiry (gauges). */
export function countIssued(ctx: SqliteContext, c: { accountId: string; profile: string; issuerId: string; issuedAt: number; notAfter: number }): void {
  for (const e of issuedEvents(c)) ctx.counters.add(e.scope, e.key, e.at, e.delta);
}
