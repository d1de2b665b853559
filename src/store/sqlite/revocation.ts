/** Revocation state in SQLite: revocations, blocked keys, pre-signed OCSP answers, CRLs. */
import type { RevocationStore } from '../store.js';
import { FULL_CRL, type Revocation, type SignedOcspResponse, type StoredCrl } from '../types.js';
import type { SqliteContext } from './context.js';
import { CERT_COLUMNS, CERT_FROM, CHAIN_JOIN, toCertificate, toCertificateStatus, type CertificateRow, type CertificateStatusRow, type CrlRow, type EntryListRow, type RevokedRow } from './rows.js';

export function revocationMethods(ctx: SqliteContext): RevocationStore {
  const { db } = ctx;
  const s = {
    revoke: db.prepare('UPDATE certificates SET revoked_at = ?, revocation_reason = ?, invalidity_date = ? WHERE id = ? AND revoked_at IS NULL'),
    insertCrlEntry: db.prepare(
      `INSERT INTO crl_entries (issuer_id, revoked_at, serial, shard, not_after, entry)
       SELECT issuer_id, revoked_at, serial, crl_shard, not_after, ? FROM certificates WHERE serial = ? AND revoked_at IS NOT NULL`,
    ),
    byId: db.prepare<[string], CertificateRow>(`SELECT ${CERT_COLUMNS} FROM ${CERT_FROM} WHERE c.id = ?`),
    issuerOf: db.prepare<[string], { issuer_id: string }>('SELECT issuer_id FROM certificates WHERE id = ?'),
    revokedFlag: db.prepare<[string, string], { revoked: number }>('SELECT revoked_at IS NOT NULL AS revoked FROM certificates WHERE serial = ? AND issuer_id = ?'),
    blockKey: db.prepare('INSERT OR IGNORE INTO blocked_keys (spki_sha256, certificate_id, blocked_at) VALUES (?, ?, ?)'),
    keyBlocked: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM blocked_keys WHERE spki_sha256 = ?'),
    markDirty: db.prepare(
      'INSERT INTO crl_dirty (issuer_id, shard, marked_at) VALUES (?, ?, ?) ON CONFLICT (issuer_id, shard) DO UPDATE SET marked_at = excluded.marked_at',
    ),
    status: db.prepare<[string, string], CertificateStatusRow>(
      `SELECT c.id, c.serial, c.issuer_id, c.not_after, c.revoked_at, c.revocation_reason,
       o.der AS ocsp_der, d.der AS ocsp_dictionary, o.this_update, o.next_update, o.revoked AS ocsp_revoked
       FROM certificates c LEFT JOIN ocsp_responses o ON o.certificate_id = c.id LEFT JOIN ocsp_dictionaries d ON d.issuer_id = c.issuer_id
       WHERE c.serial = ? AND c.issuer_id = ?`,
    ),
    // Stored only if the certificate is still in the state the answer was signed for.
    saveOcsp: db.prepare(
      `INSERT INTO ocsp_responses (certificate_id, der, this_update, next_update, revoked, refresh_at)
       SELECT @id, @der, @thisUpdate, @nextUpdate, @revoked, @refreshAt FROM certificates c
       WHERE c.id = @id AND (c.revoked_at IS NOT NULL) = (@revoked = 1)
       ON CONFLICT (certificate_id) DO UPDATE SET der = excluded.der, this_update = excluded.this_update,
         next_update = excluded.next_update, revoked = excluded.revoked, refresh_at = excluded.refresh_at`,
    ),
    unqueueOcsp: db.prepare<[string]>('DELETE FROM ocsp_pending WHERE certificate_id = ?'),
    clearRefresh: db.prepare<[string]>('UPDATE ocsp_responses SET refresh_at = NULL WHERE certificate_id = ?'),
    // Both read an index of due work only: certificates still waiting for their first answer,
    // and answers whose refresh time has passed (an answer that lasts to notAfter has none).
    ocspPending: db.prepare<[number, number], CertificateRow>(
      `SELECT ${CERT_COLUMNS} FROM ocsp_pending p JOIN certificates c ON c.id = p.certificate_id ${CHAIN_JOIN}
       WHERE p.due_at <= ? ORDER BY p.due_at LIMIT ?`,
    ),
    ocspRefresh: db.prepare<[number, number], CertificateRow>(
      `SELECT ${CERT_COLUMNS} FROM ocsp_responses o JOIN certificates c ON c.id = o.certificate_id ${CHAIN_JOIN}
       WHERE o.refresh_at IS NOT NULL AND o.refresh_at <= ? ORDER BY o.refresh_at LIMIT ?`,
    ),
    oldestPending: db.prepare<[], { due_at: number }>('SELECT due_at FROM ocsp_pending ORDER BY due_at LIMIT 1'),
    oldestRefresh: db.prepare<[], { refresh_at: number }>('SELECT refresh_at FROM ocsp_responses WHERE refresh_at IS NOT NULL ORDER BY refresh_at LIMIT 1'),
    // SQLite concatenates the entries (as hex, its one lossless text form of a blob): one value
    // crosses into JavaScript instead of a row object per entry.
    entriesInShard: db.prepare<[string, number, number], EntryListRow>(
      `SELECT count(*) AS n, unhex(group_concat(hex(entry), '')) AS der FROM (
         SELECT entry FROM crl_entries WHERE issuer_id = ? AND shard = ? AND not_after > ? ORDER BY revoked_at, serial)`,
    ),
    entriesAll: db.prepare<[string, number], EntryListRow>(
      `SELECT count(*) AS n, unhex(group_concat(hex(entry), '')) AS der FROM (
         SELECT entry FROM crl_entries WHERE issuer_id = ? AND not_after > ? ORDER BY revoked_at, serial)`,
    ),
    revokedWithoutEntry: db.prepare<[number], RevokedRow>(
      `SELECT c.serial, c.issuer_id, c.revoked_at, c.revocation_reason, c.invalidity_date FROM certificates c
       WHERE c.revoked_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM crl_entries e WHERE e.serial = c.serial) LIMIT ?`,
    ),
    crlBackfillDone: db.prepare<[], { one: number }>("SELECT 1 AS one FROM maintenance_cursors WHERE task = 'backfill:crl-entries'"),
    markCrlBackfillDone: db.prepare<[number]>("INSERT OR IGNORE INTO maintenance_cursors (task, cursor, updated_at) VALUES ('backfill:crl-entries', 'done', ?)"),
    bumpCrlNumber: db.prepare<[string], { last_number: number }>(
      `INSERT INTO crl_numbers (issuer_id, last_number) VALUES (?, 1)
       ON CONFLICT (issuer_id) DO UPDATE SET last_number = last_number + 1 RETURNING last_number`,
    ),
    saveCrl: db.prepare(
      `INSERT INTO crls (issuer_id, shard, number, this_update, next_update, der) VALUES (@issuerId, @shard, @number, @thisUpdate, @nextUpdate, @der)
       ON CONFLICT (issuer_id, shard) DO UPDATE SET number = excluded.number, this_update = excluded.this_update,
         next_update = excluded.next_update, der = excluded.der WHERE excluded.number > crls.number`,
    ),
    getCrl: db.prepare<[string, number], CrlRow>('SELECT * FROM crls WHERE issuer_id = ? AND shard = ?'),
    dirtyShards: db.prepare<[], { issuer_id: string; shard: number; marked_at: number }>('SELECT * FROM crl_dirty'),
    clearDirty: db.prepare('DELETE FROM crl_dirty WHERE issuer_id = ? AND shard = ? AND marked_at <= ?'),
  };

  return {
    async revokeCertificate(id: string, r: Revocation) {
      const revoked = db.transaction(() => {
        if (s.revoke.run(r.at.getTime(), r.reason, r.invalidityDate?.getTime() ?? null, id).changes !== 1) return false;
        const cert = s.byId.get(id)!;
        s.insertCrlEntry.run(Buffer.from(r.crlEntry), cert.serial);
        if (r.ocsp) s.saveOcsp.run(ocspParams(id, ctx.packOcsp(cert.issuer_id, r.ocsp.der), r.ocsp, true));
        if (r.blockKey) s.blockKey.run(cert.spki_sha256, id, r.at.getTime());
        ctx.counters.add('revoked', '', r.at.getTime());
        ctx.counters.add('expires:live', cert.issuer_id, cert.not_after, -1);
        const now = Date.now();
        s.markDirty.run(cert.issuer_id, cert.crl_shard, now);
        s.markDirty.run(cert.issuer_id, FULL_CRL, now);
        ctx.audit({
          actor: r.actor,
          action: 'certificate.revoked',
          subject: cert.serial,
          data: { account: cert.account_id, reason: r.reason, issuer: cert.issuer_id, keyBlocked: r.blockKey, invalidityDate: r.invalidityDate?.toISOString() ?? null },
        });
        return true;
      }).immediate();
      return revoked ? ctx.durable(true) : false;
    },

    async isKeyBlocked(spkiSha256: string) {
      return s.keyBlocked.get(spkiSha256) !== undefined;
    },

    async isRevoked(issuerId: string, serial: string) {
      const row = s.revokedFlag.get(serial, issuerId);
      return row ? row.revoked === 1 : null;
    },

    async getCertificateStatus(issuerId: string, serial: string) {
      const r = s.status.get(serial, issuerId);
      return r ? toCertificateStatus(r) : null;
    },

    async saveOcspResponse(certificateId: string, response: SignedOcspResponse, signedAsRevoked: boolean) {
      const changed = db.transaction(() => {
        const issuer = s.issuerOf.get(certificateId);
        if (!issuer) return 0;
        const n = s.saveOcsp.run(ocspParams(certificateId, ctx.packOcsp(issuer.issuer_id, response.der), response, signedAsRevoked)).changes;
        if (n === 1) s.unqueueOcsp.run(certificateId);
        return n;
      }).immediate();
      return changed === 1 ? ctx.durable(true) : false;
    },

    async listOcspDue(now: Date, limit: number) {
      const pending = s.ocspPending.all(now.getTime(), limit);
      const refresh = pending.length < limit ? s.ocspRefresh.all(now.getTime(), limit - pending.length) : [];
      return [...pending, ...refresh].map(toCertificate);
    },

    async dropOcspWork(certificateId: string) {
      db.transaction(() => {
        s.unqueueOcsp.run(certificateId);
        s.clearRefresh.run(certificateId);
      }).immediate();
      await ctx.durable(undefined);
    },

    async ocspBacklog() {
      const pending = s.oldestPending.get()?.due_at;
      const refresh = s.oldestRefresh.get()?.refresh_at;
      return { oldestPendingSince: pending === undefined ? null : new Date(pending), oldestRefreshDueAt: refresh === undefined ? null : new Date(refresh) };
    },

    async crlEntries(issuerId: string, shard: number, notAfterAfter: Date) {
      const row = shard === FULL_CRL ? s.entriesAll.get(issuerId, notAfterAfter.getTime())! : s.entriesInShard.get(issuerId, shard, notAfterAfter.getTime())!;
      return { count: row.n, der: row.der ? new Uint8Array(row.der.buffer, row.der.byteOffset, row.der.byteLength) : new Uint8Array(0) };
    },

    async listRevokedWithoutCrlEntry(limit: number) {
      // Every revocation since migration 7 stores its entry in its own transaction: once a pass
      // finds none missing, later starts need not scan the revoked certificates again.
      if (s.crlBackfillDone.get()) return [];
      const rows = s.revokedWithoutEntry.all(limit);
      if (rows.length === 0) s.markCrlBackfillDone.run(Date.now());
      return rows.map((r) => ({
        serial: r.serial,
        issuerId: r.issuer_id,
        revokedAt: new Date(r.revoked_at),
        reason: r.revocation_reason,
        invalidityDate: r.invalidity_date === null ? null : new Date(r.invalidity_date),
      }));
    },

    async saveCrlEntry(serial: string, entry: Uint8Array) {
      s.insertCrlEntry.run(Buffer.from(entry), serial);
      await ctx.durable(undefined);
    },

    async allocateCrlNumber(issuerId: string) {
      return ctx.durable(s.bumpCrlNumber.get(issuerId)!.last_number);
    },

    async saveCrl(crl: StoredCrl) {
      s.saveCrl.run({
        issuerId: crl.issuerId,
        shard: crl.shard,
        number: crl.number,
        thisUpdate: crl.thisUpdate.getTime(),
        nextUpdate: crl.nextUpdate.getTime(),
        der: Buffer.from(crl.der),
      });
      await ctx.durable(undefined);
    },

    async getCrl(issuerId: string, shard: number) {
      const r = s.getCrl.get(issuerId, shard);
      if (!r) return null;
      return { issuerId: r.issuer_id, shard: r.shard, number: r.number, thisUpdate: new Date(r.this_update), nextUpdate: new Date(r.next_update), der: new Uint8Array(r.der) };
    },

    async listDirtyCrlShards() {
      return s.dirtyShards.all().map((r) => ({ issuerId: r.issuer_id, shard: r.shard, markedAt: new Date(r.marked_at) }));
    },

    async clearDirtyCrlShard(issuerId: string, shard: number, upTo: Date) {
      s.clearDirty.run(issuerId, shard, upTo.getTime());
      await ctx.durable(undefined);
    },
  };
}

function ocspParams(id: string, der: Buffer, r: SignedOcspResponse, revoked: boolean) {
  return {
    id,
    der,
    thisUpdate: r.thisUpdate.getTime(),
    nextUpdate: r.nextUpdate.getTime(),
    revoked: revoked ? 1 : 0,
    refreshAt: r.refreshAt ? r.refreshAt.getTime() : null,
  };
}
