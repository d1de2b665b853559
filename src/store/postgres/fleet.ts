/**
 * Fleet-wide queries for the anomaly detector in PostgreSQL. Each reads an index of what it looks
 * for (recorded at write time), so its cost follows the findings and the window, not the store.
 */
import { CERT_COLUMNS, CERT_FROM, toCertificate, type CertificateRow } from '../shared/rows.js';
import type { FleetStore } from '../store.js';
import type { PgContext } from './context.js';

export function fleetMethods(ctx: PgContext): FleetStore {
  const { sql } = ctx;
  return {
    async findExpiredWithoutSuccessor(from, to, limit) {
      // certificates_unrenewed holds only unrevoked certificates that no later one has renewed.
      const rows = await sql.rows<CertificateRow>(
        `SELECT ${CERT_COLUMNS} FROM ${CERT_FROM} WHERE c.not_after > $1 AND c.not_after <= $2 AND c.successor_id IS NULL AND c.revoked_at IS NULL
         ORDER BY c.not_after LIMIT $3`,
        [from.getTime(), to.getTime(), limit],
      );
      return rows.map(toCertificate);
    },

    async findEarlyRenewals(since, fraction, limit) {
      // certificates_early holds only certificates issued before their predecessor's window opened;
      // the predecessor comes in the same statement.
      const rows = await sql.rows<CertificateRow & { p_id: string | null }>(
        `SELECT ${CERT_COLUMNS}, p.id AS p_id FROM ${CERT_FROM} JOIN certificates p ON p.id = c.predecessor_id
         WHERE c.renewal_lead > 0 AND c.issued_at > $1 AND c.renewal_lead > $2 AND p.revoked_at IS NULL
         ORDER BY c.issued_at DESC LIMIT $3`,
        [since.getTime(), fraction, limit],
      );
      const out = [];
      for (const r of rows) {
        const previous = await sql.row<CertificateRow>(`SELECT ${CERT_COLUMNS} FROM ${CERT_FROM} WHERE c.id = $1`, [r.p_id]);
        // A revoked predecessor is a reason to renew early, not an anomaly.
        if (previous && previous.revoked_at === null) out.push({ previous: toCertificate(previous), successor: toCertificate(r) });
      }
      return out;
    },

    async failedValidationGroups(by, since, minimum) {
      if (by === 'account') {
        const rows = await sql.rows<{ key: string; n: number }>(
          `SELECT a.account_id AS key, COUNT(*) AS n FROM challenges c JOIN authzs a ON a.id = c.authz_id
           WHERE c.status = 'invalid' AND c.finished_at >= $1 GROUP BY a.account_id HAVING COUNT(*) >= $2`,
          [since.getTime(), minimum],
        );
        return rows.map((r) => ({ key: r.key, count: r.n, accounts: [r.key] }));
      }
      const rows = await sql.rows<{ key: string; n: number; accounts: string[] }>(
        `SELECT a.identifier_value AS key, COUNT(*) AS n, array_agg(DISTINCT a.account_id) AS accounts FROM challenges c JOIN authzs a ON a.id = c.authz_id
         WHERE c.status = 'invalid' AND c.finished_at >= $1 GROUP BY a.identifier_value HAVING COUNT(*) >= $2`,
        [since.getTime(), minimum],
      );
      return rows.map((r) => ({ key: r.key, count: r.n, accounts: r.accounts }));
    },

    async issuanceCounts(by, from, to, options) {
      const scope = by === 'account' ? 'issued:account' : 'issued:profile';
      if (options?.keys) {
        const counted = [];
        for (const key of options.keys) counted.push({ key, count: (await ctx.counters.window(sql, scope, key, from.getTime(), to.getTime())).count });
        return counted.filter((r) => r.count > 0);
      }
      return ctx.counters.keysAtLeast(sql, scope, from.getTime(), to.getTime(), options?.minimum ?? 1);
    },

    async countRevocations(from, to) {
      return (await ctx.counters.window(sql, 'revoked', '', from.getTime(), to.getTime())).count;
    },
  };
}
