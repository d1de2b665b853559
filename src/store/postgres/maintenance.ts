/**
 * Background upkeep of the PostgreSQL store, each call one bounded batch: moving certificates
 * stored without their indexed form (names and renewal links, chain stored once, counters, OCSP
 * due work) and purging what retention no longer needs. Cursors kept in the store let each pass
 * start where the last ended. Batches are meant to run on one instance at a time (under a lease);
 * if two overlap, the cursor row lock makes them take turns.
 */
import { firstKeptBucket, HOUR, issuedEvents, scopeWidths, type CounterEvent } from '../shared/counter-buckets.js';
import { legacyRefreshAt } from '../shared/lineage-rules.js';
import type { LegacyCertificateRow } from '../shared/rows.js';
import type { MaintenanceStore } from '../store.js';
import type { PgContext, Tx } from './context.js';

type CursorRow = { id: string; expires_at: number };

export function maintenanceMethods(ctx: PgContext): MaintenanceStore {
  /**
   * Runs `step` over the rows after the stored (expires_at, id) cursor of `task`, then moves the
   * cursor past them, in one transaction; returns how many rows it visited (kept or purged).
   */
  const withCursor = (task: string, rows: (tx: Tx, at: number, id: string) => Promise<CursorRow[]>, step: (tx: Tx, row: CursorRow) => Promise<void>): Promise<number> =>
    ctx.transaction(async (tx) => {
      await tx.run("INSERT INTO maintenance_cursors (task, cursor, updated_at) VALUES ($1, '0|', 0) ON CONFLICT DO NOTHING", [task]);
      const { cursor } = (await tx.row<{ cursor: string }>('SELECT cursor FROM maintenance_cursors WHERE task = $1 FOR UPDATE', [task]))!;
      const [at, id] = cursor.split('|') as [string, string];
      const batch = await rows(tx, Number(at), id);
      for (const row of batch) await step(tx, row);
      const last = batch.at(-1);
      if (last) await tx.run('UPDATE maintenance_cursors SET cursor = $2, updated_at = $3 WHERE task = $1', [task, `${last.expires_at}|${last.id}`, Date.now()]);
      return batch.length;
    });

  const deleteCertParts = async (tx: Tx, id: string) => {
    await tx.run('DELETE FROM ocsp_responses WHERE certificate_id = $1', [id]);
    await tx.run('DELETE FROM ocsp_pending WHERE certificate_id = $1', [id]);
  };

  return {
    async backfillCertificates(limit, now) {
      const t = now.getTime();
      return ctx.transaction(async (tx) => {
        const rows = await tx.rows<LegacyCertificateRow>(
          `SELECT c.id, c.account_id, c.profile, c.issuer_id, c.identifiers, c.issued_at, c.not_after, c.revoked_at, c.chain_pem,
             o.replaces, r.this_update AS ocsp_this, r.next_update AS ocsp_next
           FROM certificates c LEFT JOIN orders o ON o.id = c.order_id LEFT JOIN ocsp_responses r ON r.certificate_id = c.id
           WHERE c.chain_id IS NULL ORDER BY c.issued_at LIMIT $1 FOR UPDATE OF c SKIP LOCKED`,
          [limit],
        );
        const events: CounterEvent[] = [];
        for (const r of rows) {
          const identifiers = JSON.parse(r.identifiers) as { type: string; value: string }[];
          const input = { id: r.id, identifiers, issuedAt: r.issued_at, replaces: r.replaces };
          const lineage = await ctx.lineage.record(tx, input);
          await tx.run(
            "UPDATE certificates SET chain_id = $1, chain_pem = '', predecessor_id = $2, renewal_lead = $3, successor_id = COALESCE(successor_id, $4) WHERE id = $5",
            [await ctx.chainId(tx, r.chain_pem), lineage.predecessorId, lineage.renewalLead, await ctx.lineage.laterCertificate(tx, input), r.id],
          );
          if (r.not_after > t) {
            events.push(...issuedEvents({ accountId: r.account_id, profile: r.profile, issuerId: r.issuer_id, issuedAt: r.issued_at, notAfter: r.not_after }));
            if (r.revoked_at !== null) events.push({ scope: 'expires:live', key: r.issuer_id, at: r.not_after, delta: -1 });
            if (r.ocsp_next === null) await tx.run('INSERT INTO ocsp_pending (certificate_id, due_at) VALUES ($1, $2) ON CONFLICT DO NOTHING', [r.id, r.issued_at]);
            else await tx.run('UPDATE ocsp_responses SET refresh_at = $1 WHERE certificate_id = $2', [legacyRefreshAt(r.ocsp_this!, r.ocsp_next, r.not_after), r.id]);
          }
          if (r.revoked_at !== null && r.revoked_at > t - 8 * 24 * HOUR) events.push({ scope: 'revoked', key: '', at: r.revoked_at });
        }
        await ctx.counters.add(tx, events);
        return rows.length;
      });
    },

    async purgeExpired(cutoff, limit) {
      const c = cutoff.getTime();
      const after = 'expires_at < $1 AND (expires_at > $2 OR (expires_at = $2 AND id > $3)) ORDER BY expires_at, id LIMIT $4';
      let purged = await withCursor(
        'retention:orders',
        (tx, at, id) => tx.rows<CursorRow>(`SELECT id, expires_at FROM orders WHERE ${after}`, [c, at, id, limit]),
        async (tx, o) => {
          // An order that led to a certificate stays (the certificate names it); its links go.
          await tx.run('DELETE FROM order_authzs WHERE order_id = $1', [o.id]);
          await tx.run('DELETE FROM order_names WHERE order_id = $1', [o.id]);
          await tx.run("DELETE FROM orders WHERE id = $1 AND certificate_id IS NULL AND status != 'processing'", [o.id]);
        },
      );
      purged += await withCursor(
        'retention:authzs',
        (tx, at, id) => tx.rows<CursorRow>(`SELECT id, expires_at FROM authzs WHERE ${after}`, [c, at, id, limit]),
        async (tx, a) => {
          if (await tx.row('SELECT 1 AS one FROM order_authzs WHERE authz_id = $1 LIMIT 1', [a.id])) return;
          await tx.run('DELETE FROM challenges WHERE authz_id = $1', [a.id]);
          await tx.run('DELETE FROM authzs WHERE id = $1', [a.id]);
        },
      );
      purged += await ctx.transaction(async (tx) => {
        const tokens = await tx.run('DELETE FROM used_tokens WHERE ctid IN (SELECT ctid FROM used_tokens WHERE expires_at < $1 LIMIT $2)', [c, limit]);
        const names = await tx.run('DELETE FROM order_names WHERE ctid IN (SELECT ctid FROM order_names WHERE created_at < $1 LIMIT $2)', [c, limit]);
        return tokens + names;
      });
      return purged;
    },

    async purgeExpiredOcsp(notAfterBefore, limit) {
      return withCursor(
        'retention:ocsp',
        (tx, at, id) =>
          tx.rows<CursorRow>(
            `SELECT id, not_after AS expires_at FROM certificates WHERE not_after < $1 AND (not_after > $2 OR (not_after = $2 AND id > $3))
             ORDER BY not_after, id LIMIT $4`,
            [notAfterBefore.getTime(), at, id, limit],
          ),
        (tx, c) => deleteCertParts(tx, c.id),
      );
    },

    async purgeCounters(before, limit) {
      return ctx.transaction(async (tx) => {
        let purged = 0;
        for (const [scope, width] of scopeWidths()) {
          purged += await tx.run(
            'DELETE FROM counters WHERE ctid IN (SELECT ctid FROM counters WHERE scope = $1 AND width = $2 AND bucket < $3 LIMIT $4)',
            [scope, width, firstKeptBucket(scope, width, before.getTime(), Date.now()), limit],
          );
        }
        return purged;
      });
    },

    async purgeCertificates(notAfterBefore, revokedNotAfterBefore, limit) {
      return ctx.transaction(async (tx) => {
        const rows = await tx.rows<{ id: string; serial: string; identifiers: string; issued_at: number }>(
          `SELECT id, serial, identifiers, issued_at FROM certificates WHERE not_after < $1 AND (revoked_at IS NULL OR not_after < $2)
           ORDER BY not_after LIMIT $3 FOR UPDATE SKIP LOCKED`,
          [notAfterBefore.getTime(), revokedNotAfterBefore.getTime(), limit],
        );
        for (const r of rows) {
          await tx.run('UPDATE orders SET replaces = NULL WHERE replaces = $1', [r.id]);
          await deleteCertParts(tx, r.id);
          const names = (JSON.parse(r.identifiers) as { value: string }[]).map((i) => i.value);
          await tx.run('DELETE FROM certificate_names WHERE name = ANY($1::text[]) AND issued_at = $2 AND certificate_id = $3', [names, r.issued_at, r.id]);
          await tx.run('DELETE FROM crl_entries WHERE serial = $1', [r.serial]);
          // Its unique serial kept the serial from reuse (the reservation was released at issuance):
          // a reservation takes that over, so that a serial is never used twice.
          await tx.run(
            'INSERT INTO serials (serial, issuer_id, order_id, reserved_at) SELECT serial, issuer_id, order_id, issued_at FROM certificates WHERE id = $1 ON CONFLICT DO NOTHING',
            [r.id],
          );
          await tx.run('DELETE FROM certificates WHERE id = $1', [r.id]);
        }
        return rows.length;
      });
    },
  };
}
