/** Orders, authorizations and challenges in SQLite (RFC 8555 §7.4–7.5), and ARI's `replaces`. */
import { newId } from '../ids.js';
import { registeredDomain } from '../registered-domain.js';
import { CHALLENGE_CLAIM_MS } from '../shared/claims.js';
import { packRecord } from '../shared/record-at-rest.js';
import { notInvalidOrder } from '../shared/order-rules.js';
import type { ListPage, OrderCountScope, OrderStore } from '../store.js';
import type { AuthzRecord, ChallengeRecord, NewOrder, OrderAuthzSummary, OrderRecord, ValidationResult } from '../types.js';
import type { SqliteContext } from './context.js';
import { toAuthz, toChallenge, toOrder, type AuthzRow, type ChallengeRow, type OrderRow } from './rows.js';

/** Orders that are not invalid (the rule of domain/status.ts, in SQL), for the list and `replaces`. */
const NOT_INVALID = notInvalidOrder('@now');


export function orderMethods(ctx: SqliteContext): OrderStore {
  const { db } = ctx;
  const s = {
    insertOrder: db.prepare(
      `INSERT INTO orders (id, account_id, status, identifiers, profile, not_before, not_after, expires_at, created_at, replaces, replaces_cert_id)
       VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertAuthz: db.prepare(
      `INSERT INTO authzs (id, account_id, identifier_type, identifier_value, wildcard, status, expires_at, created_at, validated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertChallenge: db.prepare("INSERT INTO challenges (id, authz_id, type, token, status) VALUES (?, ?, ?, ?, 'pending')"),
    linkAuthz: db.prepare('INSERT INTO order_authzs (order_id, position, authz_id) VALUES (?, ?, ?)'),
    orderById: db.prepare<[string], OrderRow>('SELECT * FROM orders WHERE id = ?'),
    orderAuthzs: db.prepare<[string], { id: string; status: string; expires_at: number }>(
      `SELECT a.id, a.status, a.expires_at FROM order_authzs oa JOIN authzs a ON a.id = oa.authz_id
       WHERE oa.order_id = ? ORDER BY oa.position`,
    ),
    // Invalid orders are left out of the list (RFC 8555 §7.1.2.1).
    ordersPage: db.prepare<[{ account: string; afterTime: number; afterId: string; now: number; limit: number }], { id: string; created_at: number }>(
      `SELECT o.id, o.created_at FROM orders o
       WHERE o.account_id = @account AND (o.created_at > @afterTime OR (o.created_at = @afterTime AND o.id > @afterId))
       AND ${NOT_INVALID}
       ORDER BY o.created_at, o.id LIMIT @limit`,
    ),
    reusableAuthz: db.prepare<[string, string, string, number, number, number], AuthzRow>(
      `SELECT * FROM authzs WHERE account_id = ? AND identifier_type = ? AND identifier_value = ? AND wildcard = ?
       AND status = 'valid' AND validated_at >= ? AND expires_at > ? ORDER BY expires_at DESC LIMIT 1`,
    ),
    authorizedIdentifier: db.prepare<[string, string, string, number], { id: string }>(
      `SELECT id FROM authzs WHERE account_id = ? AND identifier_type = ? AND identifier_value = ?
       AND status = 'valid' AND expires_at > ? LIMIT 1`,
    ),
    authzById: db.prepare<[string], AuthzRow>('SELECT * FROM authzs WHERE id = ?'),
    challengesByAuthz: db.prepare<[string], ChallengeRow>('SELECT * FROM challenges WHERE authz_id = ? ORDER BY rowid'),
    deactivateAuthz: db.prepare("UPDATE authzs SET status = 'deactivated' WHERE id = ? AND status IN ('pending', 'valid')"),
    challengeById: db.prepare<[string], ChallengeRow>('SELECT * FROM challenges WHERE id = ?'),
    startChallenge: db.prepare(
      `UPDATE challenges SET status = 'processing', claimed_until = ? WHERE id = ? AND status = 'pending'
       AND EXISTS (SELECT 1 FROM authzs a WHERE a.id = challenges.authz_id AND a.status = 'pending' AND a.expires_at > ?)
       AND NOT EXISTS (SELECT 1 FROM challenges c WHERE c.authz_id = challenges.authz_id AND c.status = 'processing')`,
    ),
    finishChallenge: db.prepare(
      "UPDATE challenges SET status = ?, validated_at = ?, error = ?, validation_record_packed = ?, finished_at = ? WHERE id = ? AND status = 'processing'",
    ),
    // RFC 8555 §7.1.4: a final authorization lists "the challenges that were used"; the others
    // are never needed again.
    dropUnusedChallenges: db.prepare("DELETE FROM challenges WHERE authz_id = ? AND id != ? AND status = 'pending'"),
    finishAuthz: db.prepare("UPDATE authzs SET status = ?, expires_at = ?, validated_at = ? WHERE id = ? AND status = 'pending'"),
    processingChallenges: db.prepare<[], { id: string }>("SELECT id FROM challenges WHERE status = 'processing'"),
    renewChallengeClaim: db.prepare("UPDATE challenges SET claimed_until = ? WHERE id = ? AND status = 'processing'"),
    // challenges_processing indexes only the challenges in progress.
    claimChallenges: db.prepare<[number, number, number], { id: string }>(
      `UPDATE challenges SET claimed_until = ? WHERE id IN (
         SELECT id FROM challenges WHERE status = 'processing' AND (claimed_until IS NULL OR claimed_until < ?) LIMIT ?)
       RETURNING id`,
    ),
    issuedReplacement: db.prepare<[string], { id: string }>("SELECT id FROM orders WHERE replaces = ? AND status = 'valid' LIMIT 1"),
    liveReplacement: db.prepare<[{ cert: string; now: number }], { id: string }>(`SELECT o.id FROM orders o WHERE o.replaces = @cert AND ${NOT_INVALID} LIMIT 1`),
  };
  const challengesOf = (authzId: string): ChallengeRecord[] => s.challengesByAuthz.all(authzId).map(toChallenge);
  const getOrder = (id: string): OrderRecord | null => {
    const row = s.orderById.get(id);
    if (!row) return null;
    const authzs: OrderAuthzSummary[] = s.orderAuthzs.all(id).map((a) => ({
      id: a.id,
      status: a.status as OrderAuthzSummary['status'],
      expiresAt: new Date(a.expires_at),
    }));
    return toOrder(row, authzs);
  };
  const getAuthz = (id: string): AuthzRecord | null => {
    const row = s.authzById.get(id);
    return row ? toAuthz(row, challengesOf(id)) : null;
  };

  return {
    async createOrder(order: NewOrder) {
      const id = newId();
      const now = Date.now();
      db.transaction(() => {
        s.insertOrder.run(
          id,
          order.accountId,
          JSON.stringify(order.identifiers),
          order.profile,
          order.notBefore?.getTime() ?? null,
          order.notAfter?.getTime() ?? null,
          order.expiresAt.getTime(),
          now,
          order.replaces?.certificateId ?? null,
          order.replaces?.certId ?? null,
        );
        ctx.counters.add('orders:account', order.accountId, now);
        ctx.counters.add('orders:profile', order.profile, now);
        for (const domain of new Set(order.identifiers.map(registeredDomain))) ctx.counters.add('orders:domain', domain, now);
        let position = 0;
        for (const authzId of order.reusedAuthzIds) s.linkAuthz.run(id, position++, authzId);
        for (const a of order.newAuthzs) {
          const authzId = newId();
          s.insertAuthz.run(authzId, order.accountId, a.identifier.type, a.identifier.value, a.wildcard ? 1 : 0, a.status, a.expiresAt.getTime(), now, a.status === 'valid' ? now : null);
          for (const c of a.challenges) s.insertChallenge.run(newId(), authzId, c.type, c.token);
          s.linkAuthz.run(id, position++, authzId);
        }
        ctx.audit({
          actor: `account:${order.accountId}`,
          action: 'order.created',
          subject: id,
          data: { identifiers: order.identifiers.map((i) => i.value), profile: order.profile, reusedAuthzs: order.reusedAuthzIds.length, preauthorized: order.newAuthzs.filter((a) => a.status === 'valid').length, replaces: order.replaces?.certId ?? null },
        });
      }).immediate();
      return ctx.durable(getOrder(id)!);
    },

    async getOrder(id: string) {
      return getOrder(id);
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
      const rows = s.ordersPage.all({ account: accountId, afterTime, afterId, now: Date.now(), limit: limit + 1 });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return rows.length > limit && last ? { ids: page.map((r) => r.id), next: `${last.created_at}.${last.id}` } : { ids: page.map((r) => r.id) };
    },

    async findReusableAuthzs(accountId, identifiers, validatedSince, expiresAfter) {
      const found: AuthzRecord[] = [];
      for (const { identifier, wildcard } of identifiers) {
        const row = s.reusableAuthz.get(accountId, identifier.type, identifier.value, wildcard ? 1 : 0, validatedSince.getTime(), expiresAfter.getTime());
        if (row) found.push(toAuthz(row, challengesOf(row.id)));
      }
      return found;
    },

    async findAuthorizedIdentifiers(accountId, identifiers, now) {
      return identifiers.filter((i) => s.authorizedIdentifier.get(accountId, i.type, i.value, now.getTime()) !== undefined);
    },

    async getAuthz(id: string) {
      return getAuthz(id);
    },

    async deactivateAuthz(id: string) {
      const changed = db.transaction(() => {
        const n = s.deactivateAuthz.run(id).changes;
        if (n === 1) {
          const authz = s.authzById.get(id)!;
          ctx.audit({ actor: `account:${authz.account_id}`, action: 'authz.deactivated', subject: id, data: { identifier: authz.identifier_value } });
        }
        return n;
      }).immediate();
      return changed === 1 ? ctx.durable(getAuthz(id)) : null;
    },

    async getChallenge(id: string) {
      const row = s.challengeById.get(id);
      return row ? toChallenge(row) : null;
    },

    async startChallenge(id: string, now: Date) {
      return s.startChallenge.run(now.getTime() + CHALLENGE_CLAIM_MS, id, now.getTime()).changes === 1 ? ctx.durable(true) : false;
    },

    async claimStaleChallenges(before, claimForMs, limit) {
      const until = Date.now() + claimForMs;
      return db.transaction(() => s.claimChallenges.all(until, before.getTime(), limit).map((r) => r.id)).immediate();
    },

    async renewChallengeClaims(ids: string[], until: Date) {
      if (ids.length === 0) return;
      db.transaction(() => {
        for (const id of ids) s.renewChallengeClaim.run(until.getTime(), id);
      }).immediate();
    },

    async recordValidation(challengeId: string, result: ValidationResult) {
      const recorded = db.transaction(() => {
        const challenge = s.challengeById.get(challengeId);
        if (!challenge) return false;
        const now = Date.now();
        const changed = s.finishChallenge.run(
          result.status,
          result.status === 'valid' ? now : null,
          result.error ? JSON.stringify(result.error) : null,
          packRecord(result.validationRecord),
          now,
          challengeId,
        ).changes;
        if (changed !== 1) return false;
        const authz = s.authzById.get(challenge.authz_id)!;
        if (result.status === 'invalid') ctx.counters.add('failed:account', authz.account_id, now);
        s.dropUnusedChallenges.run(challenge.authz_id, challengeId);
        s.finishAuthz.run(result.status, result.status === 'valid' ? result.authzExpiresAt.getTime() : authz.expires_at, result.status === 'valid' ? now : null, challenge.authz_id);
        ctx.audit({
          actor: 'system:validator',
          action: `validation.${result.status}`,
          subject: challengeId,
          data: { account: authz.account_id, type: challenge.type, identifier: authz.identifier_value, problem: result.error?.type ?? null },
        });
        return true;
      }).immediate();
      return recorded ? ctx.durable(true) : false;
    },

    async listProcessingChallenges() {
      return s.processingChallenges.all().map((r) => r.id);
    },

    async findReplacingOrder(certificateId: string, issuedOnly: boolean) {
      const row = issuedOnly ? s.issuedReplacement.get(certificateId) : s.liveReplacement.get({ cert: certificateId, now: Date.now() });
      return row?.id ?? null;
    },

    async countOrders(scope: OrderCountScope, since: Date) {
      const now = Date.now();
      if ('accountId' in scope) return ctx.counters.window('orders:account', scope.accountId, since.getTime(), now);
      if ('registeredDomain' in scope) return ctx.counters.window('orders:domain', scope.registeredDomain, since.getTime(), now);
      return ctx.counters.window('orders:profile', scope.profile, since.getTime(), now);
    },

    async countFailedValidations(accountId: string, since: Date) {
      return ctx.counters.window('failed:account', accountId, since.getTime(), Date.now());
    },
  };
}
