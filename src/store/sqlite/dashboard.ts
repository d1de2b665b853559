/**
 * The dashboard's reads in SQLite: counters from the tables migration 30 keeps with triggers
 * (dashboard-schema.ts), and indexed, keyset-paginated pages. The only scans are over one hour of
 * expiries (the partial hours at the edges of a window), never over the whole store.
 */
import type { AccountFailure, AccountOrder, DashboardStore, InventoryQuery } from '../dashboard-store.js';
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
} from '../shared/dashboard-rules.js';
import type { SqliteContext } from './context.js';
import { CERT_COLUMNS, CHAIN_JOIN, toAccount, toAudit, toCertificate, type AccountRow, type AuditRow, type CertificateRow } from './rows.js';

export function dashboardMethods(ctx: SqliteContext): DashboardStore {
  const { db } = ctx;
  const s = {
    hourly: db.prepare<[number, number], { metric: string; hour: number; n: number }>(
      "SELECT metric, hour, n FROM dash_hourly WHERE metric IN ('issued', 'failed', 'revoked') AND hour >= ? AND hour < ?",
    ),
    liveBuckets: db.prepare<[number], { profile: string; issuer_id: string; live: number }>(
      'SELECT profile, issuer_id, SUM(live) AS live FROM dash_expiry WHERE hour > ? GROUP BY profile, issuer_id',
    ),
    // The partial hour at an edge of a window, counted exactly from the expiry index.
    liveRange: db.prepare<[number, number], { profile: string; issuer_id: string; live: number }>(
      'SELECT profile, issuer_id, COUNT(*) AS live FROM certificates WHERE not_after > ? AND not_after <= ? AND revoked_at IS NULL GROUP BY profile, issuer_id',
    ),
    expiringBuckets: db.prepare<[number, number], { live: number | null; renewed: number | null }>(
      'SELECT SUM(live) AS live, SUM(renewed) AS renewed FROM dash_expiry WHERE hour >= ? AND hour < ?',
    ),
    expiringRange: db.prepare<[number, number], { live: number; renewed: number }>(
      `SELECT COUNT(*) AS live, COUNT(s.certificate_id) AS renewed FROM certificates c LEFT JOIN dash_successors s ON s.certificate_id = c.id
       WHERE c.not_after > ? AND c.not_after <= ? AND c.revoked_at IS NULL`,
    ),
    crls: db.prepare<[], { issuer_id: string; shard: number; number: number; this_update: number; next_update: number }>(
      'SELECT issuer_id, shard, number, this_update, next_update FROM crls ORDER BY issuer_id, shard',
    ),
    ocsp: db.prepare<[number, number], { issuer_id: string; overdue: number | null; earliest: number | null }>(
      `SELECT issuer_id, SUM(CASE WHEN next_hour < ? THEN n ELSE 0 END) AS overdue, MIN(CASE WHEN n > 0 THEN next_hour END) AS earliest
       FROM dash_ocsp WHERE expiry_hour > ? GROUP BY issuer_id`,
    ),
    predecessors: db.prepare<[string], { id: string; serial: string; not_after: number; revoked_at: number | null }>(
      `SELECT c.id, c.serial, c.not_after, c.revoked_at FROM dash_successors s JOIN certificates c ON c.id = s.certificate_id
       WHERE s.successor_id = ? ORDER BY c.issued_at DESC LIMIT 20`,
    ),
    successor: db.prepare<[string], { id: string; serial: string; not_after: number; revoked_at: number | null }>(
      'SELECT c.id, c.serial, c.not_after, c.revoked_at FROM dash_successors s JOIN certificates c ON c.id = s.successor_id WHERE s.certificate_id = ?',
    ),
    accountsFirst: db.prepare<[number], AccountRow>('SELECT * FROM accounts ORDER BY created_at DESC, id DESC LIMIT ?'),
    accountsAfter: db.prepare<[number, string, number], AccountRow>(
      'SELECT * FROM accounts WHERE (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?',
    ),
    accountOrders: db.prepare<[string, number], { id: string; status: string; identifiers: string; profile: string; created_at: number; certificate_id: string | null; error: string | null }>(
      'SELECT id, status, identifiers, profile, created_at, certificate_id, error FROM orders WHERE account_id = ? ORDER BY created_at DESC, id DESC LIMIT ?',
    ),
    accountFailures: db.prepare<[string, number], { id: string; type: string; identifier_value: string; finished_at: number | null; error: string | null }>(
      `SELECT c.id, c.type, a.identifier_value, c.finished_at, c.error FROM authzs a JOIN challenges c ON c.authz_id = a.id
       WHERE a.account_id = ? AND c.status = 'invalid' ORDER BY c.finished_at DESC LIMIT ?`,
    ),
  };

  const parseJson = (text: string | null): unknown => (text === null ? null : (JSON.parse(text) as unknown));

  return {
    async searchInventory(q: InventoryQuery) {
      const limit = pageSize(q.limit);
      const params: Record<string, unknown> = { limit: limit + 1 };
      const where: string[] = [];
      // The name path walks the name index; every other path walks an index of certificates
      // that leads with the equality filter and ends with (not_after, id), the page order.
      const byName = q.name !== undefined;
      const key = byName ? ['n.not_after', 'n.certificate_id'] : ['c.not_after', 'c.id'];
      const from = byName ? 'dash_cert_names n JOIN certificates c ON c.id = n.certificate_id' : 'certificates c';
      if (byName) (where.push('n.name = @name'), (params.name = q.name));
      if (q.serial !== undefined) (where.push('c.serial = @serial'), (params.serial = q.serial));
      if (q.accountId !== undefined) (where.push('c.account_id = @account'), (params.account = q.accountId));
      if (q.profile !== undefined) (where.push('c.profile = @profile'), (params.profile = q.profile));
      if (q.issuerId !== undefined) (where.push('c.issuer_id = @issuer'), (params.issuer = q.issuerId));
      if (q.revoked !== undefined) where.push(q.revoked ? 'c.revoked_at IS NOT NULL' : 'c.revoked_at IS NULL');
      if (q.expiresAfter !== undefined) (where.push(`${key[0]} > @after`), (params.after = q.expiresAfter.getTime()));
      if (q.expiresBefore !== undefined) (where.push(`${key[0]} < @before`), (params.before = q.expiresBefore.getTime()));
      if (q.cursor !== undefined) {
        const [a, b] = decodeCursor(q.cursor);
        where.push(`(${key[0]}, ${key[1]}) > (@ca, @cb)`);
        params.ca = a;
        params.cb = b;
      }
      const sql = `SELECT ${CERT_COLUMNS} FROM ${from} ${CHAIN_JOIN} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${key[0]}, ${key[1]} LIMIT @limit`;
      const rows = db.prepare<[Record<string, unknown>], CertificateRow>(sql).all(params);
      const more = rows.length > limit;
      const page = rows.slice(0, limit).map(toCertificate);
      const last = page[page.length - 1];
      return { certificates: page, next: more && last ? encodeCursor(last.notAfter.getTime(), last.id) : null };
    },

    async hourlyActivity(from: Date, to: Date) {
      return foldHourly(s.hourly.all(hourOf(from), Math.ceil(to.getTime() / HOUR)));
    },

    async liveCertificateCounts(now: Date) {
      return sumLive(s.liveBuckets.all(hourOf(now)), s.liveRange.all(...liveEdge(now)));
    },

    async expiringSummary(now: Date, until: Date) {
      return expiringSummary(now, until, (a, b) => s.expiringRange.get(a, b)!, (first, end) => s.expiringBuckets.get(first, end)!);
    },

    async crlStates() {
      return s.crls.all().map(toCrlState);
    },

    async ocspFreshness(now: Date) {
      const h = hourOf(now);
      return s.ocsp.all(h, h).map(toOcspFreshness);
    },

    async certificateLinks(certificateId: string) {
      const successor = s.successor.get(certificateId);
      return { predecessors: s.predecessors.all(certificateId).map(certificateRef), successor: successor ? certificateRef(successor) : null };
    },

    async listAccounts(limit: number, cursor?: string) {
      const n = pageSize(limit);
      const rows = cursor === undefined ? s.accountsFirst.all(n + 1) : s.accountsAfter.all(...decodeCursor(cursor), n + 1);
      const accounts = rows.slice(0, n).map(toAccount);
      const last = accounts[accounts.length - 1];
      return { accounts, next: rows.length > n && last ? encodeCursor(last.createdAt.getTime(), last.id) : null };
    },

    async accountActivity(accountId: string, limit: number) {
      const n = pageSize(limit);
      const orders: AccountOrder[] = s.accountOrders.all(accountId, n).map((r) => ({
        id: r.id,
        status: r.status,
        identifiers: (JSON.parse(r.identifiers) as { value: string }[]).map((i) => i.value),
        profile: r.profile,
        createdAt: new Date(r.created_at),
        certificateId: r.certificate_id,
        error: parseJson(r.error),
      }));
      const failures: AccountFailure[] = s.accountFailures.all(accountId, n).map((r) => ({
        challengeId: r.id,
        type: r.type,
        identifier: r.identifier_value,
        finishedAt: r.finished_at === null ? null : new Date(r.finished_at),
        error: parseJson(r.error),
      }));
      return { orders, failures };
    },

    async searchAudit(q) {
      const where: string[] = [];
      const params: Record<string, unknown> = { limit: pageSize(q.limit, 500) };
      if (q.actor !== undefined) (where.push('actor = @actor'), (params.actor = q.actor));
      if (q.action !== undefined) (where.push('action = @action'), (params.action = q.action));
      if (q.subject !== undefined) (where.push('subject = @subject'), (params.subject = q.subject));
      if (q.beforeSeq !== undefined) (where.push('seq < @before'), (params.before = q.beforeSeq));
      const sql = `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT @limit`;
      return db.prepare<[Record<string, unknown>], AuditRow>(sql).all(params).map(toAudit);
    },
  };
}
