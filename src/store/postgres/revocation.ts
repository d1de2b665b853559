/** Revocation state in PostgreSQL: revocations, blocked keys, pre-signed OCSP answers, CRLs. */
import { CERT_COLUMNS, CHAIN_JOIN, toCertificate, toCertificateStatus, type CertificateRow, type CertificateStatusRow, type CrlRow, type RevokedRow } from '../shared/rows.js';
import type { RevocationStore } from '../store.js';
import { FULL_CRL, type Revocation, type SignedOcspResponse, type StoredCrl } from '../types.js';
import type { PgContext } from './context.js';
import type { Sql } from './sql.js';

/**
 * Stores (or replaces) a certificate's pre-signed answer, and with `unqueue` takes it off the
 * queue of certificates awaiting their first; the caller has checked its revocation state under a row lock.
 */
async function upsertOcsp(ctx: PgContext, tx: Sql, id: string, issuerId: string, r: SignedOcspResponse, revoked: boolean, unqueue = false): Promise<number> {
  const der = await ctx.packOcsp(tx, issuerId, r.der);
  return tx.run(
    `WITH unqueued AS (DELETE FROM ocsp_pending WHERE certificate_id = $1 AND $7)
     INSERT INTO ocsp_responses (certificate_id, der, this_update, next_update, revoked, refresh_at) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (certificate_id) DO UPDATE SET der = excluded.der, this_update = excluded.this_update,
       next_update = excluded.next_update, revoked = excluded.revoked, refresh_at = excluded.refresh_at`,
    [id, der, r.thisUpdate.getTime(), r.nextUpdate.getTime(), revoked, r.refreshAt ? r.refreshAt.getTime() : null, unqueue],
  );
}

/** Stores the CRL entry of a revoked certificate (nothing if it is not revoked or already has one). */
function insertCrlEntry(tx: Sql, serial: string, entry: Uint8Array): Promise<number> {
  return tx.run(
    `INSERT INTO crl_entries (issuer_id, revoked_at, serial, shard, not_after, entry)
     SELECT issuer_id, revoked_at, serial, crl_shard, not_after, $1::bytea FROM certificates WHERE serial = $2 AND revoked_at IS NOT NULL
     ON CONFLICT DO NOTHING`,
    [Buffer.from(entry), serial],
  );
}

export function revocationMethods(ctx: PgContext): RevocationStore {
  const { sql } = ctx;

  return {
    async revokeCertificate(id: string, r: Revocation) {
      return ctx.transaction(async (tx) => {
        const cert = await tx.row<{ serial: string; issuer_id: string; crl_shard: number; not_after: number; spki_sha256: string; account_id: string }>(
          `UPDATE certificates SET revoked_at = $1, revocation_reason = $2, invalidity_date = $3 WHERE id = $4 AND revoked_at IS NULL
           RETURNING serial, issuer_id, crl_shard, not_after, spki_sha256, account_id`,
          [r.at.getTime(), r.reason, r.invalidityDate?.getTime() ?? null, id],
        );
        if (!cert) return false;
        await insertCrlEntry(tx, cert.serial, r.crlEntry);
        if (r.ocsp) await upsertOcsp(ctx, tx, id, cert.issuer_id, r.ocsp, true);
        if (r.blockKey) {
          await tx.run('INSERT INTO blocked_keys (spki_sha256, certificate_id, blocked_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [cert.spki_sha256, id, r.at.getTime()]);
        }
        await ctx.counters.add(tx, [
          { scope: 'revoked', key: '', at: r.at.getTime() },
          { scope: 'expires:live', key: cert.issuer_id, at: cert.not_after, delta: -1 },
        ]);
        const shards = [...new Set([cert.crl_shard, FULL_CRL])].sort((a, b) => a - b);
        await tx.run(
          `INSERT INTO crl_dirty (issuer_id, shard, marked_at) SELECT $1, s, $3 FROM unnest($2::integer[]) AS s
           ON CONFLICT (issuer_id, shard) DO UPDATE SET marked_at = excluded.marked_at`,
          [cert.issuer_id, shards, Date.now()],
        );
        await tx.audit({
          actor: r.actor,
          action: 'certificate.revoked',
          subject: cert.serial,
          data: { account: cert.account_id, reason: r.reason, issuer: cert.issuer_id, keyBlocked: r.blockKey, invalidityDate: r.invalidityDate?.toISOString() ?? null },
        });
        return true;
      });
    },

    async isKeyBlocked(spkiSha256: string) {
      return (await sql.row('SELECT 1 AS one FROM blocked_keys WHERE spki_sha256 = $1', [spkiSha256])) !== undefined;
    },

    async isRevoked(issuerId: string, serial: string) {
      const row = await sql.row<{ revoked: boolean }>('SELECT revoked_at IS NOT NULL AS revoked FROM certificates WHERE serial = $1 AND issuer_id = $2', [serial, issuerId]);
      return row ? row.revoked : null;
    },

    async getCertificateStatus(issuerId: string, serial: string) {
      const r = await sql.row<CertificateStatusRow>(
        `SELECT c.id, c.serial, c.issuer_id, c.not_after, c.revoked_at, c.revocation_reason,
         o.der AS ocsp_der, d.der AS ocsp_dictionary, o.this_update, o.next_update, o.revoked AS ocsp_revoked
         FROM certificates c LEFT JOIN ocsp_responses o ON o.certificate_id = c.id LEFT JOIN ocsp_dictionaries d ON d.issuer_id = c.issuer_id
         WHERE c.serial = $1 AND c.issuer_id = $2`,
        [serial, issuerId],
      );
      return r ? toCertificateStatus(r) : null;
    },

    async saveOcspResponse(certificateId: string, response: SignedOcspResponse, signedAsRevoked: boolean) {
      return ctx.transaction(async (tx) => {
        // Stored only if the certificate is still in the state the answer was signed for. FOR
        // SHARE waits for a revocation in flight and then reads its outcome, so a refresh racing
        // a revocation cannot overwrite the revoked answer.
        const cert = await tx.row<{ revoked: boolean; issuer_id: string }>(
          'SELECT revoked_at IS NOT NULL AS revoked, issuer_id FROM certificates WHERE id = $1 FOR SHARE',
          [certificateId],
        );
        if (!cert || cert.revoked !== signedAsRevoked) return false;
        await upsertOcsp(ctx, tx, certificateId, cert.issuer_id, response, signedAsRevoked, true);
        return true;
      });
    },

    async listOcspDue(now: Date, limit: number) {
      // Both read an index of due work only: certificates still waiting for their first answer,
      // and answers whose refresh time has passed (an answer that lasts to notAfter has none).
      const pending = await sql.rows<CertificateRow>(
        `SELECT ${CERT_COLUMNS} FROM ocsp_pending p JOIN certificates c ON c.id = p.certificate_id ${CHAIN_JOIN}
         WHERE p.due_at <= $1 ORDER BY p.due_at LIMIT $2`,
        [now.getTime(), limit],
      );
      const refresh =
        pending.length < limit
          ? await sql.rows<CertificateRow>(
              `SELECT ${CERT_COLUMNS} FROM ocsp_responses o JOIN certificates c ON c.id = o.certificate_id ${CHAIN_JOIN}
               WHERE o.refresh_at IS NOT NULL AND o.refresh_at <= $1 ORDER BY o.refresh_at LIMIT $2`,
              [now.getTime(), limit - pending.length],
            )
          : [];
      return [...pending, ...refresh].map(toCertificate);
    },

    async dropOcspWork(certificateId: string) {
      await ctx.transaction(async (tx) => {
        await tx.run('DELETE FROM ocsp_pending WHERE certificate_id = $1', [certificateId]);
        await tx.run('UPDATE ocsp_responses SET refresh_at = NULL WHERE certificate_id = $1', [certificateId]);
      });
    },

    async ocspBacklog() {
      const pending = await sql.row<{ due_at: number }>('SELECT due_at FROM ocsp_pending ORDER BY due_at LIMIT 1');
      const refresh = await sql.row<{ refresh_at: number }>('SELECT refresh_at FROM ocsp_responses WHERE refresh_at IS NOT NULL ORDER BY refresh_at LIMIT 1');
      return {
        oldestPendingSince: pending === undefined ? null : new Date(pending.due_at),
        oldestRefreshDueAt: refresh === undefined ? null : new Date(refresh.refresh_at),
      };
    },

    async crlEntries(issuerId: string, shard: number, notAfterAfter: Date) {
      // The server concatenates the entries in CRL order: one value crosses the wire instead of a row per entry.
      const row =
        shard === FULL_CRL
          ? await sql.row<{ n: number; der: Buffer | null }>(
              "SELECT COUNT(*) AS n, string_agg(entry, ''::bytea ORDER BY revoked_at, serial) AS der FROM crl_entries WHERE issuer_id = $1 AND not_after > $2",
              [issuerId, notAfterAfter.getTime()],
            )
          : await sql.row<{ n: number; der: Buffer | null }>(
              "SELECT COUNT(*) AS n, string_agg(entry, ''::bytea ORDER BY revoked_at, serial) AS der FROM crl_entries WHERE issuer_id = $1 AND shard = $2 AND not_after > $3",
              [issuerId, shard, notAfterAfter.getTime()],
            );
      const der = row?.der;
      return { count: row?.n ?? 0, der: der ? new Uint8Array(der.buffer, der.byteOffset, der.byteLength) : new Uint8Array(0) };
    },

    async listRevokedWithoutCrlEntry(limit: number) {
      // Every revocation stores its entry in its own transaction: once a pass finds none
      // missing, later starts need not scan the revoked certificates again.
      if (await sql.row("SELECT 1 AS one FROM maintenance_cursors WHERE task = 'backfill:crl-entries'")) return [];
      const rows = await sql.rows<RevokedRow>(
        `SELECT c.serial, c.issuer_id, c.revoked_at, c.revocation_reason, c.invalidity_date FROM certificates c
         WHERE c.revoked_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM crl_entries e WHERE e.serial = c.serial) LIMIT $1`,
        [limit],
      );
      if (rows.length === 0) {
        await sql.run("INSERT INTO maintenance_cursors (task, cursor, updated_at) VALUES ('backfill:crl-entries', 'done', $1) ON CONFLICT DO NOTHING", [Date.now()]);
      }
      return rows.map((r) => ({
        serial: r.serial,
        issuerId: r.issuer_id,
        revokedAt: new Date(r.revoked_at),
        reason: r.revocation_reason,
        invalidityDate: r.invalidity_date === null ? null : new Date(r.invalidity_date),
      }));
    },

    async saveCrlEntry(serial: string, entry: Uint8Array) {
      await insertCrlEntry(sql, serial, entry);
    },

    async allocateCrlNumber(issuerId: string) {
      // One atomic upsert: concurrent instances each get a distinct, larger number.
      const row = await sql.row<{ last_number: number }>(
        `INSERT INTO crl_numbers (issuer_id, last_number) VALUES ($1, 1)
         ON CONFLICT (issuer_id) DO UPDATE SET last_number = crl_numbers.last_number + 1 RETURNING last_number`,
        [issuerId],
      );
      return row!.last_number;
    },

    async saveCrl(crl: StoredCrl) {
      await sql.run(
        `INSERT INTO crls (issuer_id, shard, number, this_update, next_update, der) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (issuer_id, shard) DO UPDATE SET number = excluded.number, this_update = excluded.this_update,
           next_update = excluded.next_update, der = excluded.der WHERE excluded.number > crls.number`,
        [crl.issuerId, crl.shard, crl.number, crl.thisUpdate.getTime(), crl.nextUpdate.getTime(), Buffer.from(crl.der)],
      );
    },

    async getCrl(issuerId: string, shard: number) {
      const r = await sql.row<CrlRow>('SELECT * FROM crls WHERE issuer_id = $1 AND shard = $2', [issuerId, shard]);
      if (!r) return null;
      return { issuerId: r.issuer_id, shard: r.shard, number: r.number, thisUpdate: new Date(r.this_update), nextUpdate: new Date(r.next_update), der: new Uint8Array(r.der) };
    },

    async listDirtyCrlShards() {
      const rows = await sql.rows<{ issuer_id: string; shard: number; marked_at: number }>('SELECT * FROM crl_dirty');
      return rows.map((r) => ({ issuerId: r.issuer_id, shard: r.shard, markedAt: new Date(r.marked_at) }));
    },

    async clearDirtyCrlShard(issuerId: string, shard: number, upTo: Date) {
      await sql.run('DELETE FROM crl_dirty WHERE issuer_id = $1 AND shard = $2 AND marked_at <= $3', [issuerId, shard, upTo.getTime()]);
    },
  };
}
