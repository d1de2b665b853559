/** Orders, authorizations and challenges in PostgreSQL (RFC 8555 §7.4–7.5), and ARI's `replaces`. */
import { newId } from '../ids.js';
import { registeredDomain } from '../registered-domain.js';
import { CHALLENGE_CLAIM_MS } from '../shared/claims.js';
import { packRecord } from '../shared/record-at-rest.js';
import { notInvalidOrder } from '../shared/order-rules.js';
import { toAuthz, toChallenge, toOrder, type AuthzRow, type ChallengeRow, type OrderRow } from '../shared/rows.js';
import type { ListPage, OrderCountScope, OrderStore } from '../store.js';
import type { AuthzRecord, NewOrder, OrderAuthzSummary, OrderRecord, ValidationResult } from '../types.js';
import type { PgContext } from './context.js';
import type { Sql } from './sql.js';

async function readOrder(sql: Sql, id: string): Promise<OrderRecord | null> {
  const row = await sql.row<OrderRow>('SELECT * FROM orders WHERE id = $1', [id]);
  if (!row) return null;
  const authzs = await sql.rows<{ id: string; status: string; expires_at: number }>(
    'SELECT a.id, a.status, a.expires_at FROM order_authzs oa JOIN authzs a ON a.id = oa.authz_id WHERE oa.order_id = $1 ORDER BY oa.position',
    [id],
  );
  return toOrder(
    row,
    authzs.map((a) => ({ id: a.id, status: a.status as OrderAuthzSummary['status'], expiresAt: new Date(a.expires_at) })),
  );
}

const challengesOf = async (sql: Sql, authzId: string) =>
  (await sql.rows<ChallengeRow>('SELECT * FROM challenges WHERE authz_id = $1 ORDER BY position, id', [authzId])).map(toChallenge);

async function readAuthz(sql: Sql, id: string): Promise<AuthzRecord | null> {
  const row = await sql.row<AuthzRow>('SELECT * FROM authzs WHERE id = $1', [id]);
  return row ? toAuthz(row, await challengesOf(sql, id)) : null;
}

export function orderMethods(ctx: PgContext): OrderStore {
  const { sql } = ctx;

  return {
    async createOrder(order: NewOrder) {
      const id = newId();
      const authzs = order.newAuthzs.map((a) => ({ ...a, id: newId(), challenges: a.challenges.map((c) => ({ ...c, id: newId() })) }));
      const challenges = authzs.flatMap((a) => a.challenges.map((c, position) => ({ ...c, authzId: a.id, position })));
      const linked = [...order.reusedAuthzIds, ...authzs.map((a) => a.id)];
      return ctx.transaction(async (tx) => {
        const now = Date.now();
        const row: OrderRow = {
          id, account_id: order.accountId, status: 'pending', identifiers: JSON.stringify(order.identifiers), profile: order.profile,
          not_before: order.notBefore?.getTime() ?? null, not_after: order.notAfter?.getTime() ?? null, expires_at: order.expiresAt.getTime(), created_at: now,
          error: null, certificate_id: null, replaces: order.replaces?.certificateId ?? null, replaces_cert_id: order.replaces?.certId ?? null,
        };
        // The order, its new authorizations with their challenges, and the links in one statement
        // (foreign keys are checked at its end, when every row is in).
        await tx.run(
          `WITH o AS (
             INSERT INTO orders (id, account_id, status, identifiers, profile, not_before, not_after, expires_at, created_at, replaces, replaces_cert_id)
             VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, $10)
           ), a AS (
             INSERT INTO authzs (id, account_id, identifier_type, identifier_value, wildcard, status, expires_at, created_at, validated_at)
             SELECT a.id, $2, a.t, a.v, a.w, a.s, a.e, $8, a.va FROM unnest($11::text[], $12::text[], $13::text[], $14::boolean[], $15::text[], $16::bigint[], $17::bigint[]) AS a(id, t, v, w, s, e, va)
           ), c AS (
             INSERT INTO challenges (id, authz_id, position, type, token, status)
             SELECT *, 'pending' FROM unnest($18::text[], $19::text[], $20::integer[], $21::text[], $22::text[])
           ) INSERT INTO order_authzs (order_id, position, authz_id) SELECT $1, l.ord - 1, l.id FROM unnest($23::text[]) WITH ORDINALITY AS l(id, ord)`,
          [id, row.account_id, row.identifiers, row.profile, row.not_before, row.not_after, row.expires_at, now, row.replaces, row.replaces_cert_id,
            authzs.map((a) => a.id), authzs.map((a) => a.identifier.type), authzs.map((a) => a.identifier.value), authzs.map((a) => a.wildcard),
            authzs.map((a) => a.status), authzs.map((a) => a.expiresAt.getTime()), authzs.map((a) => (a.status === 'valid' ? now : null)),
            challenges.map((c) => c.id), challenges.map((c) => c.authzId), challenges.map((c) => c.position), challenges.map((c) => c.type), challenges.map((c) => c.token),
            linked],
        );
        await ctx.counters.add(tx, [
          { scope: 'orders:account', key: order.accountId, at: now },
          { scope: 'orders:profile', key: order.profile, at: now },
          ...[...new Set(order.identifiers.map(registeredDomain))].map((domain) => ({ scope: 'orders:domain' as const, key: domain, at: now })),
        ]);
        // The record as stored: the new authorizations as written, the reused ones as they are now.
        const reused = order.reusedAuthzIds.length
          ? new Map((await tx.rows<{ id: string; status: string; expires_at: number }>('SELECT id, status, expires_at FROM authzs WHERE id = ANY($1::text[])', [order.reusedAuthzIds])).map((a) => [a.id, a]))
          : new Map<string, { id: string; status: string; expires_at: number }>();
        const fresh = new Map(authzs.map((a) => [a.id, { id: a.id, status: a.status, expires_at: a.expiresAt.getTime() }]));
        const created = toOrder(
          row,
          linked.map((authzId) => {
            const a = reused.get(authzId) ?? fresh.get(authzId)!;
            return { id: a.id, status: a.status as OrderAuthzSummary['status'], expiresAt: new Date(a.expires_at) };
          }),
        );
        await tx.audit({
          actor: `account:${order.accountId}`,
          action: 'order.created',
          subject: id,
          data: { identifiers: order.identifiers.map((i) => i.value), profile: order.profile, reusedAuthzs: order.reusedAuthzIds.length, preauthorized: order.newAuthzs.filter((a) => a.status === 'valid').length, replaces: order.replaces?.certId ?? null },
        });
        return created;
      });
    },

    async getOrder(id: string) {
      return readOrder(sql, id);
    },

    async listAccountOrders(accountId: string, limit: number, cursor?: string): Promise<ListPage> {
      let afterTime = -1;
      let afterId = '';
      if (cursor) {
        const sep = cursor.indexOf('.');
        const t = Number(cursor.slice(0, sep));
        if (sep > 0 && Number.isSafeInteger(t)) {
          afterTime = t;
          afterId = cursor.slice(sep + 1);
        }
      }
      // Invalid orders are left out of the list (RFC 8555 §7.1.2.1).
      const rows = await sql.rows<{ id: string; created_at: number }>(
        `SELECT o.id, o.created_at FROM orders o
         WHERE o.account_id = $1 AND (o.created_at > $3 OR (o.created_at = $3 AND o.id > $4))
         AND ${notInvalidOrder('$2')}
         ORDER BY o.created_at, o.id LIMIT $5`,
        [accountId, Date.now(), afterTime, afterId, limit + 1],
      );
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return rows.length > limit && last ? { ids: page.map((r) => r.id), next: `${last.created_at}.${last.id}` } : { ids: page.map((r) => r.id) };
    },

    async findReusableAuthzs(accountId, identifiers, validatedSince, expiresAfter) {
      const found: AuthzRecord[] = [];
      for (const { identifier, wildcard } of identifiers) {
        const row = await sql.row<AuthzRow>(
          `SELECT * FROM authzs WHERE account_id = $1 AND identifier_type = $2 AND identifier_value = $3 AND wildcard = $4
           AND status = 'valid' AND validated_at >= $5 AND expires_at > $6 ORDER BY expires_at DESC LIMIT 1`,
          [accountId, identifier.type, identifier.value, wildcard, validatedSince.getTime(), expiresAfter.getTime()],
        );
        if (row) found.push(toAuthz(row, await challengesOf(sql, row.id)));
      }
      return found;
    },

    async findAuthorizedIdentifiers(accountId, identifiers, now) {
      const held = [];
      for (const i of identifiers) {
        const row = await sql.row(
          "SELECT 1 AS one FROM authzs WHERE account_id = $1 AND identifier_type = $2 AND identifier_value = $3 AND status = 'valid' AND expires_at > $4 LIMIT 1",
          [accountId, i.type, i.value, now.getTime()],
        );
        if (row) held.push(i);
      }
      return held;
    },

    async getAuthz(id: string) {
      return readAuthz(sql, id);
    },

    async deactivateAuthz(id: string) {
      return ctx.transaction(async (tx) => {
        const row = await tx.row<{ account_id: string; identifier_value: string }>(
          "UPDATE authzs SET status = 'deactivated' WHERE id = $1 AND status IN ('pending', 'valid') RETURNING account_id, identifier_value",
          [id],
        );
        if (!row) return null;
        const authz = await readAuthz(tx, id);
        await tx.audit({ actor: `account:${row.account_id}`, action: 'authz.deactivated', subject: id, data: { identifier: row.identifier_value } });
        return authz;
      });
    },

    async getChallenge(id: string) {
      const row = await sql.row<ChallengeRow>('SELECT * FROM challenges WHERE id = $1', [id]);
      return row ? toChallenge(row) : null;
    },

    async startChallenge(id: string, now: Date) {
      return ctx.transaction(async (tx) => {
        // The authorization's row lock makes "no other challenge of it is processing" hold
        // across concurrent starts of its different challenges.
        const authz = await tx.row<{ id: string }>(
          `SELECT a.id FROM challenges c JOIN authzs a ON a.id = c.authz_id
           WHERE c.id = $1 AND c.status = 'pending' AND a.status = 'pending' AND a.expires_at > $2 FOR UPDATE OF a`,
          [id, now.getTime()],
        );
        if (!authz) return false;
        const n = await tx.run(
          `UPDATE challenges SET status = 'processing', claimed_until = $3 WHERE id = $1 AND status = 'pending'
           AND NOT EXISTS (SELECT 1 FROM challenges c WHERE c.authz_id = $2 AND c.status = 'processing')`,
          [id, authz.id, now.getTime() + CHALLENGE_CLAIM_MS],
        );
        return n === 1;
      });
    },

    async recordValidation(challengeId: string, result: ValidationResult) {
      return ctx.transaction(async (tx) => {
        const found = await tx.row<{ authz_id: string; type: string; account_id: string; identifier_value: string; expires_at: number }>(
          `SELECT c.authz_id, c.type, a.account_id, a.identifier_value, a.expires_at FROM challenges c JOIN authzs a ON a.id = c.authz_id
           WHERE c.id = $1 FOR UPDATE OF a`,
          [challengeId],
        );
        if (!found) return false;
        const now = Date.now();
        const changed = await tx.run(
          "UPDATE challenges SET status = $1, validated_at = $2, error = $3, validation_record_packed = $4, finished_at = $5 WHERE id = $6 AND status = 'processing'",
          [result.status, result.status === 'valid' ? now : null, result.error ? JSON.stringify(result.error) : null, packRecord(result.validationRecord), now, challengeId],
        );
        if (changed !== 1) return false;
        // RFC 8555 §7.1.4: a final authorization lists "the challenges that were used"; the others
        // are never needed again.
        await tx.run(
          `WITH unused AS (DELETE FROM challenges WHERE authz_id = $4 AND id != $5 AND status = 'pending')
           UPDATE authzs SET status = $1, expires_at = $2, validated_at = $3 WHERE id = $4 AND status = 'pending'`,
          [result.status, result.status === 'valid' ? result.authzExpiresAt.getTime() : found.expires_at, result.status === 'valid' ? now : null, found.authz_id, challengeId],
        );
        if (result.status === 'invalid') await ctx.counters.add(tx, [{ scope: 'failed:account', key: found.account_id, at: now }]);
        await tx.audit({
          actor: 'system:validator',
          action: `validation.${result.status}`,
          subject: challengeId,
          data: { account: found.account_id, type: found.type, identifier: found.identifier_value, problem: result.error?.type ?? null },
        });
        return true;
      });
    },

    async claimStaleChallenges(before, claimForMs, limit) {
      // challenges_processing indexes only the challenges in progress; SKIP LOCKED lets callers
      // on several instances claim disjoint sets without waiting for each other. The pick is a
      // CTE, run once: as `id IN (subquery)` the subquery may run again per row and pass the limit.
      const rows = await sql.rows<{ id: string }>(
        `WITH picked AS (
           SELECT id FROM challenges WHERE status = 'processing' AND (claimed_until IS NULL OR claimed_until < $2) LIMIT $3 FOR UPDATE SKIP LOCKED
         ) UPDATE challenges c SET claimed_until = $1 FROM picked WHERE c.id = picked.id RETURNING c.id`,
        [Date.now() + claimForMs, before.getTime(), limit],
      );
      return rows.map((r) => r.id);
    },

    async renewChallengeClaims(ids: string[], until: Date) {
      if (ids.length === 0) return;
      await sql.run("UPDATE challenges SET claimed_until = $2 WHERE id = ANY($1) AND status = 'processing'", [ids, until.getTime()]);
    },

    async listProcessingChallenges() {
      return (await sql.rows<{ id: string }>("SELECT id FROM challenges WHERE status = 'processing'")).map((r) => r.id);
    },

    async findReplacingOrder(certificateId: string, issuedOnly: boolean) {
      const row = issuedOnly
        ? await sql.row<{ id: string }>("SELECT id FROM orders WHERE replaces = $1 AND status = 'valid' LIMIT 1", [certificateId])
        : await sql.row<{ id: string }>(`SELECT o.id FROM orders o WHERE o.replaces = $1 AND ${notInvalidOrder('$2')} LIMIT 1`, [certificateId, Date.now()]);
      return row?.id ?? null;
    },

    async countOrders(scope: OrderCountScope, since: Date) {
      const now = Date.now();
      if ('accountId' in scope) return ctx.counters.window(sql, 'orders:account', scope.accountId, since.getTime(), now);
      if ('registeredDomain' in scope) return ctx.counters.window(sql, 'orders:domain', scope.registeredDomain, since.getTime(), now);
      return ctx.counters.window(sql, 'orders:profile', scope.profile, since.getTime(), now);
    },

    async countFailedValidations(accountId: string, since: Date) {
      return ctx.counters.window(sql, 'failed:account', accountId, since.getTime(), Date.now());
    },
  };
}
