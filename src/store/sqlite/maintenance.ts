/**
 * Background upkeep of the SQLite store, each call one bounded batch: moving rows written before
 * migration 8 into the indexed form (names and renewal links, chain stored once, counters, OCSP
 * due work) and purging what retention no longer needs. Cursors kept in the store let each pass
 * start where the last ended, so no pass re-reads what it already handled.
 */
import type { MaintenanceStore } from '../store.js';
import { countIssued } from './certificates.js';
import { firstKeptBucket, HOUR, scopeWidths } from '../shared/counter-buckets.js';
import { legacyRefreshAt } from '../shared/lineage-rules.js';
import type { LegacyCertificateRow } from './rows.js';
import type { SqliteContext } from './context.js';

export function maintenanceMethods(ctx: SqliteContext): MaintenanceStore {
  const { db } = ctx;
  const s = {
    legacy: db.prepare<[number], LegacyCertificateRow>(
      `SELECT c.id, c.account_id, c.profile, c.issuer_id, c.identifiers, c.issued_at, c.not_after, c.revoked_at, c.chain_pem,
         o.replaces, r.this_update AS ocsp_this, r.next_update AS ocsp_next
       FROM certificates c LEFT JOIN orders o ON o.id = c.order_id LEFT JOIN ocsp_responses r ON r.certificate_id = c.id
       WHERE c.chain_id IS NULL ORDER BY c.issued_at LIMIT ?`,
    ),
    moveCert: db.prepare<[number, string | null, number | null, string | null, string]>(
      "UPDATE certificates SET chain_id = ?, chain_pem = '', predecessor_id = ?, renewal_lead = ?, successor_id = COALESCE(successor_id, ?) WHERE id = ?",
    ),
    setRefresh: db.prepare<[number | null, string]>('UPDATE ocsp_responses SET refresh_at = ? WHERE certificate_id = ?'),
    queueOcsp: db.prepare<[string, number]>('INSERT OR IGNORE INTO ocsp_pending (certificate_id, due_at) VALUES (?, ?)'),
    cursor: db.prepare<[string], { cursor: string }>('SELECT cursor FROM maintenance_cursors WHERE task = ?'),
    setCursor: db.prepare<[string, string, number]>(
      'INSERT INTO maintenance_cursors (task, cursor, updated_at) VALUES (?, ?, ?) ON CONFLICT (task) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at',
    ),
    expiredOrders: db.prepare<[number, number, number, string, number], { id: string; expires_at: number }>(
      'SELECT id, expires_at FROM orders WHERE expires_at < ? AND (expires_at > ? OR (expires_at = ? AND id > ?)) ORDER BY expires_at, id LIMIT ?',
    ),
    unlinkOrder: db.prepare<[string]>('DELETE FROM order_authzs WHERE order_id = ?'),
    orderNames: db.prepare<[string]>('DELETE FROM order_names WHERE order_id = ?'),
    deleteOrder: db.prepare<[string]>('DELETE FROM orders WHERE id = ? AND certificate_id IS NULL AND status != \'processing\''),
    expiredAuthzs: db.prepare<[number, number, number, string, number], { id: string; expires_at: number }>(
      'SELECT id, expires_at FROM authzs WHERE expires_at < ? AND (expires_at > ? OR (expires_at = ? AND id > ?)) ORDER BY expires_at, id LIMIT ?',
    ),
    authzLinked: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM order_authzs WHERE authz_id = ? LIMIT 1'),
    deleteChallenges: db.prepare<[string]>('DELETE FROM challenges WHERE authz_id = ?'),
    deleteAuthz: db.prepare<[string]>('DELETE FROM authzs WHERE id = ?'),
    usedTokens: db.prepare<[number, number]>('DELETE FROM used_tokens WHERE rowid IN (SELECT rowid FROM used_tokens WHERE expires_at < ? LIMIT ?)'),
    legacyNames: db.prepare<[number, number]>('DELETE FROM order_names WHERE rowid IN (SELECT rowid FROM order_names WHERE created_at < ? LIMIT ?)'),
    counters: db.prepare<[string, number, number, number]>(
      `DELETE FROM counters WHERE (scope, key, width, bucket) IN (
         SELECT scope, key, width, bucket FROM counters WHERE scope = ? AND width = ? AND bucket < ? LIMIT ?)`,
    ),
    oldCerts: db.prepare<[number, number, number], { id: string; serial: string; identifiers: string; issued_at: number }>(
      `SELECT id, serial, identifiers, issued_at FROM certificates WHERE not_after < ? AND (revoked_at IS NULL OR not_after < ?) ORDER BY not_after LIMIT ?`,
    ),
    expiredWithOcsp: db.prepare<[number, number, number, string, number], { id: string; expires_at: number }>(
      `SELECT id, not_after AS expires_at FROM certificates WHERE not_after < ? AND (not_after > ? OR (not_after = ? AND id > ?))
       ORDER BY not_after, id LIMIT ?`,
    ),
    unreplace: db.prepare<[string]>('UPDATE orders SET replaces = NULL WHERE replaces = ?'),
    deleteCertParts: [
      db.prepare<[string]>('DELETE FROM ocsp_responses WHERE certificate_id = ?'),
      db.prepare<[string]>('DELETE FROM ocsp_pending WHERE certificate_id = ?'),
    ],
    deleteName: db.prepare<[string, number, string]>('DELETE FROM certificate_names WHERE name = ? AND issued_at = ? AND certificate_id = ?'),
    deleteCrlEntry: db.prepare<[string]>('DELETE FROM crl_entries WHERE serial = ?'),
    deleteCert: db.prepare<[string]>('DELETE FROM certificates WHERE id = ?'),
  };

  /**
   * Runs `step` over the rows after the stored (expires_at, id) cursor of `task`, then moves the
   * cursor past them; returns how many rows it visited (kept or purged).
   */
  const withCursor = <T extends { id: string; expires_at: number }>(task: string, rows: (at: number, id: string) => T[], step: (row: T) => void): number => {
    const [at, id] = (s.cursor.get(task)?.cursor ?? '0|').split('|') as [string, string];
    return db.transaction(() => {
      const batch = rows(Number(at), id);
      for (const row of batch) step(row);
      const last = batch.at(-1);
      if (last) s.setCursor.run(task, `${last.expires_at}|${last.id}`, Date.now());
      return batch.length;
    }).immediate();
  };

  return {
    async backfillCertificates(limit, now) {
      const t = now.getTime();
      const moved = db.transaction(() => {
        const rows = s.legacy.all(limit);
        for (const r of rows) {
          const identifiers = JSON.parse(r.identifiers) as { type: string; value: string }[];
          const input = { id: r.id, identifiers, issuedAt: r.issued_at, replaces: r.replaces };
          const lineage = ctx.lineage.record(input);
          s.moveCert.run(ctx.chainId(r.chain_pem), lineage.predecessorId, lineage.renewalLead, ctx.lineage.laterCertificate(input), r.id);
          if (r.not_after > t) {
            countIssued(ctx, { accountId: r.account_id, profile: r.profile, issuerId: r.issuer_id, issuedAt: r.issued_at, notAfter: r.not_after });
            if (r.revoked_at !== null) ctx.counters.add('expires:live', r.issuer_id, r.not_after, -1);
            if (r.ocsp_next === null) s.queueOcsp.run(r.id, r.issued_at);
            else s.setRefresh.run(legacyRefreshAt(r.ocsp_this!, r.ocsp_next, r.not_after), r.id);
          }
          if (r.revoked_at !== null && r.revoked_at > t - 8 * 24 * HOUR) ctx.counters.add('revoked', '', r.revoked_at);
        }
        return rows.length;
      }).immediate();
      return moved > 0 ? ctx.durable(moved) : 0;
    },

    async purgeExpired(cutoff, limit) {
      const c = cutoff.getTime();
      let purged = withCursor('retention:orders', (at, id) => s.expiredOrders.all(c, at, at, id, limit), (o) => {
        // An order that led to a certificate stays (the certificate names it); its links go.
        s.unlinkOrder.run(o.id);
        s.orderNames.run(o.id);
        s.deleteOrder.run(o.id);
      });
      purged += withCursor('retention:authzs', (at, id) => s.expiredAuthzs.all(c, at, at, id, limit), (a) => {
        if (s.authzLinked.get(a.id)) return;
        s.deleteChallenges.run(a.id);
        s.deleteAuthz.run(a.id);
      });
      db.transaction(() => {
        purged += s.usedTokens.run(c, limit).changes;
        purged += s.legacyNames.run(c, limit).changes;
      }).immediate();
      return purged > 0 ? ctx.durable(purged) : 0;
    },

    async purgeExpiredOcsp(notAfterBefore, limit) {
      const visited = withCursor('retention:ocsp', (at, id) => s.expiredWithOcsp.all(notAfterBefore.getTime(), at, at, id, limit), (c) => {
        for (const stmt of s.deleteCertParts) stmt.run(c.id);
      });
      return visited > 0 ? ctx.durable(visited) : 0;
    },

    async purgeCounters(before, limit) {
      let purged = 0;
      db.transaction(() => {
        for (const [scope, width] of scopeWidths()) {
          purged += s.counters.run(scope, width, firstKeptBucket(scope, width, before.getTime(), Date.now()), limit).changes;
        }
      }).immediate();
      return purged > 0 ? ctx.durable(purged) : 0;
    },

    async purgeCertificates(notAfterBefore, revokedNotAfterBefore, limit) {
      const purged = db.transaction(() => {
        const rows = s.oldCerts.all(notAfterBefore.getTime(), revokedNotAfterBefore.getTime(), limit);
        for (const r of rows) {
          s.unreplace.run(r.id);
          for (const stmt of s.deleteCertParts) stmt.run(r.id);
          for (const i of JSON.parse(r.identifiers) as { value: string }[]) s.deleteName.run(i.value, r.issued_at, r.id);
          s.deleteCrlEntry.run(r.serial);
          s.deleteCert.run(r.id);
        }
        return rows.length;
      }).immediate();
      return purged > 0 ? ctx.durable(purged) : 0;
    },
  };
}
