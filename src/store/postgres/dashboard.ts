/**
 * The dashboard's reads in PostgreSQL: counters from the tables migration 3 keeps with triggers
 * (dashboard-schema.ts), and indexed, keyset-paginated pages, as in SQLite. The only scans are
 * over one hour of expiries (the partial hours at the edges of a window).
 */
import type { AccountFailure, AccountOrder, DashboardStore, InventoryQuery } from '../dashboard-store.js';
import { CERT_COLUMNS, CHAIN_JOIN, toAccount, toAudit, toCertificate, type AccountRow, type AuditRow, type CertificateRow } from '../shared/rows.js';
import {
  certificateRef,
  decodeCursor,
  encodeCursor,
  expiringSummary,
  foldHourly,
  hourOf,
  HOUR,
  liveEdge,
  pageSize,
  sumLive,
  toCrlState,
  toOcspFreshness,
  type LiveRow,
} from '../shared/dashboard-rules.js';
import type { PgContext } from './context.js';



type Ref = { id: string; serial: string; not_after: number; revoked_at: number | null };

export function dashboardMethods(ctx: PgContext): DashboardStore {
  const { sql } = ctx;
  const parseJson = (text: string | null): unknown => (text === null ? null : (JSON.parse(text) as unknown));

  return {
    async searchInventory(q: InventoryQuery) {
      const limit = pageSize(q.limit);
      const values: unknown[] = [];
      const param = (v: unknown) => `$${values.push(v)}`;
      const where: string[] = [];
      // The name path walks the name index; every other path walks an index of certificates
      // that leads with the equality filter and ends with (not_after, id), the page order.
      const byName = q.name !== undefined;
      const key = byName ? ['n.not_after', 'n.certificate_id'] : ['c.not_after', 'c.id'];
      const from = byName ? 'dash_cert_names n JOIN certificates c ON c.id = n.certificate_id' : 'certificates c';
      if (byName) where.push(`n.name = ${param(q.name)}`);
      if (q.serial !== undefined) where.push(`c.serial = ${param(q.serial)}`);
      if (q.accountId !== undefined) where.push(`c.account_id = ${param(q.accountId)}`);
      if (q.profile !== undefined) where.push(`c.profile = ${param(q.profile)}`);
      if (q.issuerId !== undefined) where.push(`c.issuer_id = ${param(q.issuerId)}`);
      if (q.revoked !== undefined) where.push(q.revoked ? 'c.revoked_at IS NOT NULL' : 'c.revoked_at IS NULL');
      if (q.expiresAfter !== undefined) where.push(`${key[0]} > ${param(q.expiresAfter.getTime())}`);
      if (q.expiresBefore !== undefined) where.push(`${key[0]} < ${param(q.expiresBefore.getTime())}`);
      if (q.cursor !== undefined) {
        const [a, b] = decodeCursor(q.cursor);
        where.push(`(${key[0]}, ${key[1]}) > (${param(a)}::bigint, ${param(b)}::text)`);
      }
      const rows = await sql.rows<CertificateRow>(
        `SELECT ${CERT_COLUMNS} FROM ${from} ${CHAIN_JOIN} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${key[0]}, ${key[1]} LIMIT ${param(limit + 1)}`,
        values,
      );
      const more = rows.length > limit;
      const page = rows.slice(0, limit).map(toCertificate);
      const last = page[page.length - 1];
      return { certificates: page, next: more && last ? encodeCursor(last.notAfter.getTime(), last.id) : null };
    },

    async hourlyActivity(from: Date, to: Date) {
      return foldHourly(
        await sql.rows<{ metric: string; hour: number; n: number }>(
          "SELECT metric, hour, n FROM dash_hourly WHERE metric IN ('issued', 'failed', 'revoked') AND hour >= $1 AND hour < $2",
          [hourOf(from), Math.ceil(to.getTime() / HOUR)],
        ),
      );
    },

    async liveCertificateCounts(now: Date) {
      return sumLive(
        await sql.rows<LiveRow>('SELECT profile, issuer_id, SUM(live) AS live FROM dash_expiry WHERE hour > $1 GROUP BY profile, issuer_id', [hourOf(now)]),
        // The partial hour at the edge of the window, counted exactly from the expiry index.
        await sql.rows<LiveRow>(
          'SELECT profile, issuer_id, COUNT(*) AS live FROM certificates WHERE not_after > $1 AND not_after <= $2 AND revoked_at IS NULL GROUP BY profile, issuer_id',
          liveEdge(now),
        ),
      );
    },

    async expiringSummary(now: Date, until: Date) {
      return expiringSummary(
        now,
        until,
        async (a, b) =>
          (await sql.row<{ live: number; renewed: number }>(
            `SELECT COUNT(*) AS live, COUNT(s.certificate_id) AS renewed FROM certificates c LEFT JOIN dash_successors s ON s.certificate_id = c.id
             WHERE c.not_after > $1 AND c.not_after <= $2 AND c.revoked_at IS NULL`,
            [a, b],
          ))!,
        async (first, end) =>
          (await sql.row<{ live: number | null; renewed: number | null }>('SELECT SUM(live) AS live, SUM(renewed) AS renewed FROM dash_expiry WHERE hour >= $1 AND hour < $2', [first, end]))!,
      );
    },

    async crlStates() {
      const rows = await sql.rows<{ issuer_id: string; shard: number; number: number; this_update: number; next_update: number }>(
        'SELECT issuer_id, shard, number, this_update, next_update FROM crls ORDER BY issuer_id, shard',
      );
      return rows.map(toCrlState);
    },

    async ocspFreshness(now: Date) {
      const rows = await sql.rows<{ issuer_id: string; overdue: number | null; earliest: number | null }>(
        `SELECT issuer_id, SUM(CASE WHEN next_hour < $1 THEN n ELSE 0 END) AS overdue, MIN(CASE WHEN n > 0 THEN next_hour END) AS earliest
         FROM dash_ocsp WHERE expiry_hour > $1 GROUP BY issuer_id`,
        [hourOf(now)],
      );
      return rows.map(toOcspFreshness);
    },

    async certificateLinks(certificateId: string) {
      const successor = await sql.row<Ref>(
        'SELECT c.id, c.serial, c.not_after, c.revoked_at FROM dash_successors s JOIN certificates c ON c.id = s.successor_id WHERE s.certificate_id = $1',
        [certificateId],
      );
      const predecessors = await sql.rows<Ref>(
        `SELECT c.id, c.serial, c.not_after, c.revoked_at FROM dash_successors s JOIN certificates c ON c.id = s.certificate_id
         WHERE s.successor_id = $1 ORDER BY c.issued_at DESC LIMIT 20`,
        [certificateId],
      );
      return { predecessors: predecessors.map(certificateRef), successor: successor ? certificateRef(successor) : null };
    },

    async listAccounts(limit: number, cursor?: string) {
      const n = pageSize(limit);
      const rows =
        cursor === undefined
          ? await sql.rows<AccountRow>('SELECT * FROM accounts ORDER BY created_at DESC, id DESC LIMIT $1', [n + 1])
          : await sql.rows<AccountRow>('SELECT * FROM accounts WHERE (created_at, id) < ($1::bigint, $2::text) ORDER BY created_at DESC, id DESC LIMIT $3', [...decodeCursor(cursor), n + 1]);
      const accounts = rows.slice(0, n).map(toAccount);
      const last = accounts[accounts.length - 1];
      return { accounts, next: rows.length > n && last ? encodeCursor(last.createdAt.getTime(), last.id) : null };
    },

    async accountActivity(accountId: string, limit: number) {
      const n = pageSize(limit);
      const orderRows = await sql.rows<{ id: string; status: string; identifiers: string; profile: string; created_at: number; certificate_id: string | null; error: string | null }>(
        'SELECT id, status, identifiers, profile, created_at, certificate_id, error FROM orders WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2',
        [accountId, n],
      );
      const failureRows = await sql.rows<{ id: string; type: string; identifier_value: string; finished_at: number | null; error: string | null }>(
        `SELECT c.id, c.type, a.identifier_value, c.finished_at, c.error FROM authzs a JOIN challenges c ON c.authz_id = a.id
         WHERE a.account_id = $1 AND c.status = 'invalid' ORDER BY c.finished_at DESC NULLS LAST LIMIT $2`,
        [accountId, n],
      );
      const orders: AccountOrder[] = orderRows.map((r) => ({
        id: r.id,
        status: r.status,
        identifiers: (JSON.parse(r.identifiers) as { value: string }[]).map((i) => i.value),
        profile: r.profile,
        createdAt: new Date(r.created_at),
        certificateId: r.certificate_id,
        error: parseJson(r.error),
      }));
      const failures: AccountFailure[] = failureRows.map((r) => ({
        challengeId: r.id,
        type: r.type,
        identifier: r.identifier_value,
        finishedAt: r.finished_at === null ? null : new Date(r.finished_at),
        error: parseJson(r.error),
      }));
      return { orders, failures };
    },

    async searchAudit(q) {
      const values: unknown[] = [];
      const param = (v: unknown) => `$${values.push(v)}`;
      const where: string[] = [];
      if (q.actor !== undefined) where.push(`actor = ${param(q.actor)}`);
      if (q.action !== undefined) where.push(`action = ${param(q.action)}`);
      if (q.subject !== undefined) where.push(`subject = ${param(q.subject)}`);
      if (q.beforeSeq !== undefined) where.push(`seq < ${param(q.beforeSeq)}`);
      const limit = param(pageSize(q.limit, 500));
      const rows = await sql.rows<AuditRow>(`SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ${limit}`, values);
      return rows.map(toAudit);
    },
  };
}
