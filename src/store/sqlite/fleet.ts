/** Fleet-wide queries for the anomaly detector (periodic scans, bounded by limits). */
import type { Store } from '../store.js';
import type { SqliteContext } from './context.js';
import { toCertificate, type CertificateRow } from './rows.js';

type FleetMethods = Pick<Store, 'findExpiredWithoutSuccessor' | 'findEarlyRenewals' | 'failedValidationGroups' | 'issuanceCounts' | 'countRevocations'>;

/** Another certificate, issued later, naming one of c's names: c's successor. */
const HAS_SUCCESSOR = `EXISTS (
  SELECT 1 FROM certificates n, json_each(n.identifiers) nj, json_each(c.identifiers) cj
  WHERE n.issued_at > c.issued_at AND n.id != c.id AND json_extract(nj.value, '$.value') = json_extract(cj.value, '$.value'))`;

export function fleetMethods(ctx: SqliteContext): FleetMethods {
  const { db } = ctx;
  const s = {
    expiredAlone: db.prepare<[number, number, number], CertificateRow>(
      `SELECT c.* FROM certificates c WHERE c.not_after > ? AND c.not_after <= ? AND c.revoked_at IS NULL AND NOT ${HAS_SUCCESSOR}
       ORDER BY c.not_after LIMIT ?`,
    ),
    early: db.prepare<[number, number, number], CertificateRow & { successor_id: string }>(
      `SELECT c.*, n.id AS successor_id FROM certificates c
       JOIN certificates n ON n.issued_at > c.issued_at AND n.id != c.id AND n.issued_at > ?
         AND EXISTS (SELECT 1 FROM json_each(n.identifiers) nj, json_each(c.identifiers) cj WHERE json_extract(nj.value, '$.value') = json_extract(cj.value, '$.value'))
       WHERE c.revoked_at IS NULL AND n.issued_at < c.renewal_start - (c.renewal_start - c.not_before) * ?
       ORDER BY n.issued_at DESC LIMIT ?`,
    ),
    certById: db.prepare<[string], CertificateRow>('SELECT * FROM certificates WHERE id = ?'),
    failedByAccount: db.prepare<[number, number], { key: string; n: number }>(
      `SELECT a.account_id AS key, COUNT(*) AS n FROM challenges c JOIN authzs a ON a.id = c.authz_id
       WHERE c.status = 'invalid' AND c.finished_at >= ? GROUP BY a.account_id HAVING n >= ?`,
    ),
    failedByName: db.prepare<[number, number], { key: string; n: number; accounts: string }>(
      `SELECT a.identifier_value AS key, COUNT(*) AS n, GROUP_CONCAT(DISTINCT a.account_id) AS accounts FROM challenges c JOIN authzs a ON a.id = c.authz_id
       WHERE c.status = 'invalid' AND c.finished_at >= ? GROUP BY a.identifier_value HAVING n >= ?`,
    ),
    issuedByAccount: db.prepare<[number, number], { key: string; n: number }>(
      'SELECT account_id AS key, COUNT(*) AS n FROM certificates WHERE issued_at >= ? AND issued_at < ? GROUP BY account_id',
    ),
    issuedByProfile: db.prepare<[number, number], { key: string; n: number }>(
      'SELECT profile AS key, COUNT(*) AS n FROM certificates WHERE issued_at >= ? AND issued_at < ? GROUP BY profile',
    ),
    revocations: db.prepare<[number, number], { n: number }>('SELECT COUNT(*) AS n FROM certificates WHERE revoked_at >= ? AND revoked_at < ?'),
  };

  return {
    async findExpiredWithoutSuccessor(from, to, limit) {
      return s.expiredAlone.all(from.getTime(), to.getTime(), limit).map(toCertificate);
    },
    async findEarlyRenewals(since, fraction, limit) {
      return s.early.all(since.getTime(), fraction, limit).map((r) => ({ previous: toCertificate(r), successor: toCertificate(s.certById.get(r.successor_id)!) }));
    },
    async failedValidationGroups(by, since, minimum) {
      if (by === 'account') return s.failedByAccount.all(since.getTime(), minimum).map((r) => ({ key: r.key, count: r.n, accounts: [r.key] }));
      return s.failedByName.all(since.getTime(), minimum).map((r) => ({ key: r.key, count: r.n, accounts: r.accounts.split(',') }));
    },
    async issuanceCounts(by, from, to) {
      const stmt = by === 'account' ? s.issuedByAccount : s.issuedByProfile;
      return stmt.all(from.getTime(), to.getTime()).map((r) => ({ key: r.key, count: r.n }));
    },
    async countRevocations(from, to) {
      return s.revocations.get(from.getTime(), to.getTime())?.n ?? 0;
    },
  };
}
