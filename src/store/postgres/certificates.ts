/** Issuance in PostgreSQL: serial reservation, the certificate recorded with its valid order, lookups. */
import type { ProblemDocument } from '../../acme/problem.js';
import { ConflictError } from '../errors.js';
import { newId } from '../ids.js';
import { ORDER_CLAIM_MS } from '../shared/claims.js';
import { expiringPlan, HOUR, issuedEvents, unexpiredPlan } from '../shared/counter-buckets.js';
import { CERT_COLUMNS, CERT_FROM, toCertificate, type CertificateRow } from '../shared/rows.js';
import type { CertificateStore } from '../store.js';
import type { CertificateRecord, NewCertificate } from '../types.js';
import type { PgContext } from './context.js';
import type { Sql } from './sql.js';

/** A certificate by id, its chain resolved. */
export async function readCertificate(sql: Sql, id: string): Promise<CertificateRecord | null> {
  const row = await sql.row<CertificateRow>(`SELECT ${CERT_COLUMNS} FROM ${CERT_FROM} WHERE c.id = $1`, [id]);
  return row ? toCertificate(row) : null;
}

export function certificateMethods(ctx: PgContext): CertificateStore {
  const { sql } = ctx;
  const countExact = async (from: number, until: number, issuerId?: string) =>
    (await sql.row<{ n: number }>(
      issuerId === undefined
        ? 'SELECT COUNT(*) AS n FROM certificates WHERE not_after > $1 AND not_after <= $2 AND revoked_at IS NULL'
        : 'SELECT COUNT(*) AS n FROM certificates WHERE not_after > $1 AND not_after <= $2 AND issuer_id = $3',
      issuerId === undefined ? [from, until] : [from, until, issuerId],
    ))?.n ?? 0;

  return {
    async beginFinalize(orderId: string, csr: Uint8Array, serial: string, issuerId: string) {
      return ctx.transaction(async (tx) => {
        // A serial reserved by another order is a unique violation, and one an issued certificate
        // holds (its reservation released, see completeFinalize) a conflict: either way the whole
        // transaction, the order's move to processing included, rolls back.
        const order = await tx.row<{ account_id: string; reserved: boolean }>(
          `WITH o AS (UPDATE orders SET status = 'processing', csr = $1, claimed_until = $6 WHERE id = $2 AND status = 'pending' RETURNING account_id),
           s AS (INSERT INTO serials (serial, issuer_id, order_id, reserved_at) SELECT $3, $4, $2, $5 FROM o
                 WHERE NOT EXISTS (SELECT 1 FROM certificates WHERE serial = $3) RETURNING serial)
           SELECT account_id, EXISTS (SELECT 1 FROM s) AS reserved FROM o`,
          [Buffer.from(csr), orderId, serial, issuerId, Date.now(), Date.now() + ORDER_CLAIM_MS],
        );
        if (!order) return false;
        if (!order.reserved) throw new ConflictError(`serial ${serial} is already in use`);
        await tx.audit({ actor: `account:${order.account_id}`, action: 'order.finalizing', subject: orderId, data: { serial, issuer: issuerId } });
        return true;
      });
    },

    async completeFinalize(orderId: string, c: NewCertificate): Promise<CertificateRecord> {
      const id = newId();
      return ctx.transaction(async (tx) => {
        const now = Date.now();
        const order = await tx.row<{ replaces: string | null }>("SELECT replaces FROM orders WHERE id = $1 AND status = 'processing' FOR UPDATE", [orderId]);
        if (!order) throw new ConflictError(`order ${orderId} is not processing`);
        const lineage = await ctx.lineage.record(tx, { id, identifiers: c.identifiers, issuedAt: now, replaces: order.replaces });
        const leaf = await ctx.packLeaf(tx, c.chainPem, c.der);
        const ocspDer = c.ocsp ? await ctx.packOcsp(tx, c.issuerId, c.ocsp.der) : null;
        // The certificate, the order's move to valid (the CSR is only needed while processing, to
        // re-issue after a crash), the serial's reservation released and its first OCSP answer
        // (or, without one, its OCSP work item), in one statement.
        const row = (await tx.row<CertificateRow>(
          `WITH cert AS (
             INSERT INTO certificates (id, serial, issuer_id, account_id, order_id, profile, identifiers, not_before, not_after,
               der, chain_pem, chain_id, spki_sha256, issued_at, crl_shard, profile_hash, renewal_start, renewal_end, predecessor_id, renewal_lead)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '', $11, $12, $13, $14, $15, $16, $17, $18, $19) RETURNING *
           ), valid AS (
             UPDATE orders SET status = 'valid', certificate_id = $1, csr = NULL WHERE id = $20
           ), released AS (
             -- The certificate's unique serial now keeps the serial from reuse; only reservations
             -- of finalizations that never recorded a certificate stay (they may have signed one).
             DELETE FROM serials WHERE serial = $2
           ), due AS (
             INSERT INTO ocsp_pending (certificate_id, due_at) SELECT id, issued_at FROM cert WHERE $21::bytea IS NULL
           ), answer AS (
             INSERT INTO ocsp_responses (certificate_id, der, this_update, next_update, revoked, refresh_at)
             SELECT id, $21::bytea, $22::bigint, $23::bigint, false, $24::bigint FROM cert WHERE $21::bytea IS NOT NULL
           ) SELECT * FROM cert`,
          [id, c.serial, c.issuerId, c.accountId, c.orderId, c.profile, JSON.stringify(c.identifiers), c.notBefore.getTime(), c.notAfter.getTime(),
            leaf.stored, leaf.chainId, c.spkiSha256, now, c.crlShard, c.profileHash, c.renewalStart.getTime(), c.renewalEnd.getTime(),
            lineage.predecessorId, lineage.renewalLead, orderId,
            ocspDer, c.ocsp?.thisUpdate.getTime() ?? null, c.ocsp?.nextUpdate.getTime() ?? null, c.ocsp?.refreshAt?.getTime() ?? null],
        ))!;
        await ctx.counters.add(tx, issuedEvents({ accountId: c.accountId, profile: c.profile, issuerId: c.issuerId, issuedAt: now, notAfter: c.notAfter.getTime() }));
        // Read back from the stored form, so that a row that would not read back fails the issuance.
        const issued = toCertificate({ ...row, der_dictionary: leaf.dictionary, chain_pem: c.chainPem });
        await tx.audit({
          actor: `account:${c.accountId}`,
          action: 'certificate.issued',
          subject: c.serial,
          data: { order: orderId, names: c.identifiers.map((i) => i.value), profile: c.profile, profileHash: c.profileHash, issuer: c.issuerId, notAfter: c.notAfter.toISOString() },
        });
        return issued;
      });
    },

    async abortFinalize(orderId: string, outcome: { status: 'pending' } | { status: 'invalid'; error: ProblemDocument }) {
      await ctx.transaction(async (tx) => {
        const n = await tx.run(
          "UPDATE orders SET status = $1, error = $2, csr = CASE WHEN $1 = 'invalid' THEN NULL ELSE csr END WHERE id = $3 AND status = 'processing'",
          [outcome.status, outcome.status === 'invalid' ? JSON.stringify(outcome.error) : null, orderId],
        );
        if (n === 1) await tx.audit({ actor: 'system:issuance', action: 'order.finalize-aborted', subject: orderId, data: { status: outcome.status } });
      });
    },

    async claimStaleOrders(before, claimForMs, limit) {
      // orders_processing indexes only the orders in progress; SKIP LOCKED and the CTE as for challenges.
      const rows = await sql.rows<{ id: string; csr: Buffer }>(
        `WITH picked AS (
           SELECT id FROM orders WHERE status = 'processing' AND (claimed_until IS NULL OR claimed_until < $2) LIMIT $3 FOR UPDATE SKIP LOCKED
         ) UPDATE orders o SET claimed_until = $1 FROM picked WHERE o.id = picked.id RETURNING o.id, o.csr`,
        [Date.now() + claimForMs, before.getTime(), limit],
      );
      return rows.map((r) => ({ id: r.id, csr: new Uint8Array(r.csr) }));
    },

    async listProcessingOrders() {
      const rows = await sql.rows<{ id: string; csr: Buffer }>("SELECT id, csr FROM orders WHERE status = 'processing'");
      return rows.map((r) => ({ id: r.id, csr: new Uint8Array(r.csr) }));
    },

    async getCertificate(id: string) {
      return readCertificate(sql, id);
    },

    async findCertificateBySerial(serial: string) {
      const row = await sql.row<CertificateRow>(`SELECT ${CERT_COLUMNS} FROM ${CERT_FROM} WHERE c.serial = $1`, [serial]);
      return row ? toCertificate(row) : null;
    },

    async countExpiringCertificates(from: Date, until: Date) {
      const plan = expiringPlan(from.getTime(), until.getTime());
      let n = 0;
      for (const [a, b] of plan.exact) n += await countExact(a, b);
      if (plan.hours) n += await ctx.counters.sumBuckets(sql, 'expires:live', null, HOUR, plan.hours[0], plan.hours[1]);
      return n;
    },

    async issuerCertificateStats(issuerId: string, now: Date) {
      const last = (await sql.row<{ last: number | null }>('SELECT MAX(not_after) AS last FROM certificates WHERE issuer_id = $1', [issuerId]))?.last ?? null;
      const plan = unexpiredPlan(now.getTime(), last);
      let unexpired = 0;
      for (const [a, b] of plan.exact) unexpired += await countExact(a, b, issuerId);
      if (plan.hours) unexpired += await ctx.counters.sumBuckets(sql, 'expires', issuerId, HOUR, plan.hours[0], plan.hours[1]);
      return { unexpired, lastNotAfter: last === null ? null : new Date(last) };
    },

    async searchCertificates(q) {
      const where: string[] = [];
      const values: unknown[] = [];
      const param = (v: unknown) => `$${values.push(v)}`;
      if (q.serial) where.push(`c.serial = ${param(q.serial)}`);
      if (q.accountId) where.push(`c.account_id = ${param(q.accountId)}`);
      if (q.profile) where.push(`c.profile = ${param(q.profile)}`);
      if (q.issuerId) where.push(`c.issuer_id = ${param(q.issuerId)}`);
      if (q.name) where.push(`c.id IN (SELECT certificate_id FROM certificate_names WHERE name = ${param(q.name)})`);
      if (q.expiresBefore) where.push(`c.not_after < ${param(q.expiresBefore.getTime())}`);
      if (q.expiresAfter) where.push(`c.not_after > ${param(q.expiresAfter.getTime())}`);
      if (q.revoked !== undefined) where.push(q.revoked ? 'c.revoked_at IS NOT NULL' : 'c.revoked_at IS NULL');
      const limit = param(Math.min(Math.max(q.limit ?? 100, 1), 1000));
      const rows = await sql.rows<CertificateRow>(`SELECT ${CERT_COLUMNS} FROM ${CERT_FROM} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY c.not_after LIMIT ${limit}`, values);
      return rows.map(toCertificate);
    },
  };
}
