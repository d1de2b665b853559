/**
 * Fleet-wide queries for the anomaly detector. Each reads an index of what it looks for (recorded
 * at write time: certificates without a successor, renewals ahead of their predecessor's window,
 * counters per time bucket), so its cost follows the findings and the window, not the store.
 */
import type { FleetStore } from '../store.js';
import type { SqliteContext } from './context.js';
import { CERT_COLUMNS, CERT_FROM, toCertificate, type CertificateRow } from './rows.js';

export function fleetMethods(ctx: SqliteContext): FleetStore {
  const { db } = ctx;
  const s = {
    // certificates_unrenewed holds only unrevoked certificates that no later one has renewed.
    expiredAlone: db.prepare<[number, number, number], CertificateRow>(
      `SELECT ${CERT_COLUMNS} FROM ${CERT_FROM} WHERE c.not_after > ? AND c.not_after <= ? AND c.successor_id IS NULL AND c.revoked_at IS NULL
       ORDER BY c.not_after LIMIT ?`,
    ),
    // certificates_early holds only certificates issued before their predecessor's window opened.
    early: db.prepare<[number, number, number], CertificateRow & { predecessor_id: string }>(
      `SELECT ${CERT_COLUMNS}, c.predecessor_id FROM ${CERT_FROM} WHERE c.renewal_lead > 0 AND c.issued_at > ? AND c.renewal_lead > ?
       ORDER BY c.issued_at DESC LIMIT ?`,
    ),
    certById: db.prepare<[string], CertificateRow>(`SELECT ${CERT_COLUMNS} FROM ${CERT_FROM} WHERE c.id = ?`),
    failedByAccount: db.prepare<[number, number], { key: string; n: number }>(
      `SELECT a.account_id AS key, COUNT(*) AS n FROM challenges c JOIN authzs a ON a.id = c.authz_id
       WHERE c.status = 'invalid' AND c.finished_at >= ? GROUP BY a.account_id HAVING n >= ?`,
    ),
    failedByName: db.prepare<[number, number], { key: string; n: number; accounts: string }>(
      `SELECT a.identifier_value AS key, COUNT(*) AS n, GROUP_CONCAT(DISTINCT a.account_id) AS accounts FROM challenges c JOIN authzs a ON a.id = c.authz_id
       WHERE c.status = 'invalid' AND c.finished_at >= ? GROUP BY a.identifier_value HAVING n >= ?`,
    ),
  };

  return {
    async findExpiredWithoutSuccessor(from, to, limit) {
      return s.expiredAlone.all(from.getTime(), to.getTime(), limit).map(toCertificate);
    },
    async findEarlyRenewals(since, fraction, limit) {
      const out = [];
      for (const r of s.early.all(since.getTime(), fraction, limit)) {
        const previous = s.certById.get(r.predecessor_id);
        // A revoked predecessor is a reason to renew early, not an anomaly.
        if (previous && previous.revoked_at === null) out.push({ previous: toCertificate(previous), successor: toCertificate(r) });
      }
      return out;
    },
    async failedValidationGroups(by, since, minimum) {
      if (by === 'account') return s.failedByAccount.all(since.getTime(), minimum).map((r) => ({ key: r.key, count: r.n, accounts: [r.key] }));
      return s.failedByName.all(since.getTime(), minimum).map((r) => ({ key: r.key, count: r.n, accounts: r.accounts.split(',') }));
    },
    async issuanceCounts(by, from, to, options) {
      const scope = by === 'account' ? 'issued:account' : 'issued:profile';
      if (options?.keys) {
        return options.keys.map((key) => ({ key, count: ctx.counters.window(scope, key, from.getTime(), to.getTime()).count })).filter((r) => r.count > 0);
      }
      return ctx.counters.keysAtLeast(scope, from.getTime(), to.getTime(), options?.minimum ?? 1);
    },
    async countRevocations(from, to) {
      return ctx.counters.window('revoked', '', from.getTime(), to.getTime()).count;
    },
  };
}
