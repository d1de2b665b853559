/**
 * The embedded default store: better-sqlite3 in WAL mode. better-sqlite3 is synchronous, so
 * each method runs its statements in one `db.transaction` and resolves afterwards; with
 * `synchronous = FULL` a resolved write is on disk.
 */
import Database from 'better-sqlite3';
import type { Identifier, ProblemDocument } from '../../acme/problem.js';
import { ConflictError } from '../errors.js';
import { newId } from '../ids.js';
import type { ListPage, ProcessingOrder, Store } from '../store.js';
import type {
  AccountRecord,
  AuthzRecord,
  CertificateRecord,
  CertificateStatus,
  ChallengeRecord,
  EabCredential,
  JsonWebKeyPublic,
  NewAccount,
  NewCertificate,
  NewOrder,
  OrderAuthzSummary,
  OrderRecord,
  RenewalTrigger,
  RevokedEntry,
  Revocation,
  SignedOcspResponse,
  StoredCrl,
  ValidationResult,
} from '../types.js';
import { FULL_CRL } from '../types.js';
import { WalGroupCommit } from './group-commit.js';
import { migrate } from './migrations.js';
import {
  toAccount,
  toAuthz,
  toCertificate,
  toChallenge,
  toOrder,
  type AccountRow,
  type AuthzRow,
  type CertificateRow,
  type ChallengeRow,
  type OrderRow,
  type CertificateStatusRow,
  type CrlRow,
  type EabRow,
  toEab,
  type RevokedRow,
} from './rows.js';

/**
 * How commits reach the disk. `group` (default): each acknowledged write is fsynced, concurrent
 * writes share one fsync off the event loop (see group-commit.ts). `full`: SQLite fsyncs inside
 * every commit, on the event loop. `normal`: no fsync per commit; survives a process crash but
 * not a power loss.
 */
export type SqliteDurability = 'group' | 'full' | 'normal';

export interface SqliteStoreOptions {
  durability?: SqliteDurability;
}

const isUniqueViolation = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && (e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE';

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly stmt;
  private readonly groupCommit: WalGroupCommit | undefined;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    const durability = options.durability ?? 'group';
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
    this.groupCommit = durability === 'group' ? new WalGroupCommit(`${path}-wal`) : undefined;
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
    const db = this.db;
    this.stmt = {
      insertAccount: db.prepare(
        'INSERT INTO accounts (id, status, jwk, thumbprint, contact, tos_agreed, created_at, external_account_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      accountById: db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE id = ?'),
      accountByThumbprint: db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE thumbprint = ?'),
      updateContact: db.prepare("UPDATE accounts SET contact = ? WHERE id = ? AND status = 'valid'"),
      deactivateAccount: db.prepare("UPDATE accounts SET status = 'deactivated' WHERE id = ? AND status = 'valid'"),
      deactivateAccountAuthzs: db.prepare(
        "UPDATE authzs SET status = 'deactivated' WHERE account_id = ? AND status = 'pending'",
      ),
      changeKey: db.prepare("UPDATE accounts SET jwk = ?, thumbprint = ? WHERE id = ? AND thumbprint = ? AND status = 'valid'"),
      insertOrder: db.prepare(
        `INSERT INTO orders (id, account_id, status, identifiers, profile, not_before, not_after, expires_at, created_at, replaces, replaces_cert_id)
         VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertAuthz: db.prepare(
        `INSERT INTO authzs (id, account_id, identifier_type, identifier_value, wildcard, status, expires_at, created_at, validated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertChallenge: db.prepare(
        "INSERT INTO challenges (id, authz_id, type, token, status) VALUES (?, ?, ?, ?, 'pending')",
      ),
      linkAuthz: db.prepare('INSERT INTO order_authzs (order_id, position, authz_id) VALUES (?, ?, ?)'),
      orderById: db.prepare<[string], OrderRow>('SELECT * FROM orders WHERE id = ?'),
      orderAuthzs: db.prepare<[string], { id: string; status: string; expires_at: number }>(
        `SELECT a.id, a.status, a.expires_at FROM order_authzs oa JOIN authzs a ON a.id = oa.authz_id
         WHERE oa.order_id = ? ORDER BY oa.position`,
      ),
      // Invalid orders are left out (RFC 8555 §7.1.2.1): stored invalid, or pending but expired or
      // holding an authorization that can no longer become valid (the rule of domain/status.ts).
      ordersPage: db.prepare<[{ account: string; afterTime: number; afterId: string; now: number; limit: number }], { id: string; created_at: number }>(
        `SELECT o.id, o.created_at FROM orders o
         WHERE o.account_id = @account AND (o.created_at > @afterTime OR (o.created_at = @afterTime AND o.id > @afterId))
         AND o.status != 'invalid'
         AND NOT (o.status = 'pending' AND (o.expires_at <= @now OR EXISTS (
           SELECT 1 FROM order_authzs oa JOIN authzs a ON a.id = oa.authz_id WHERE oa.order_id = o.id
           AND (a.status IN ('invalid', 'deactivated', 'revoked') OR a.expires_at <= @now))))
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
        `UPDATE challenges SET status = 'processing' WHERE id = ? AND status = 'pending'
         AND EXISTS (SELECT 1 FROM authzs a WHERE a.id = challenges.authz_id AND a.status = 'pending' AND a.expires_at > ?)
         AND NOT EXISTS (SELECT 1 FROM challenges c WHERE c.authz_id = challenges.authz_id AND c.status = 'processing')`,
      ),
      finishChallenge: db.prepare(
        "UPDATE challenges SET status = ?, validated_at = ?, error = ?, validation_record = ? WHERE id = ? AND status = 'processing'",
      ),
      finishAuthz: db.prepare(
        "UPDATE authzs SET status = ?, expires_at = ?, validated_at = ? WHERE id = ? AND status = 'pending'",
      ),
      processingChallenges: db.prepare<[], { id: string }>("SELECT id FROM challenges WHERE status = 'processing'"),
      beginFinalize: db.prepare("UPDATE orders SET status = 'processing', csr = ? WHERE id = ? AND status = 'pending'"),
      reserveSerial: db.prepare('INSERT INTO serials (serial, issuer_id, order_id, reserved_at) VALUES (?, ?, ?, ?)'),
      insertCertificate: db.prepare(
        `INSERT INTO certificates (id, serial, issuer_id, account_id, order_id, profile, identifiers, not_before, not_after,
         der, chain_pem, spki_sha256, issued_at, crl_shard, profile_hash, renewal_start, renewal_end)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      completeOrder: db.prepare(
        "UPDATE orders SET status = 'valid', certificate_id = ? WHERE id = ? AND status = 'processing'",
      ),
      abortOrder: db.prepare("UPDATE orders SET status = ?, error = ? WHERE id = ? AND status = 'processing'"),
      processingOrders: db.prepare<[], { id: string; csr: Buffer }>(
        "SELECT id, csr FROM orders WHERE status = 'processing'",
      ),
      certificateById: db.prepare<[string], CertificateRow>('SELECT * FROM certificates WHERE id = ?'),
      certificateBySerial: db.prepare<[string], CertificateRow>('SELECT * FROM certificates WHERE serial = ?'),
      revoke: db.prepare(
        'UPDATE certificates SET revoked_at = ?, revocation_reason = ?, invalidity_date = ? WHERE id = ? AND revoked_at IS NULL',
      ),
      blockKey: db.prepare('INSERT OR IGNORE INTO blocked_keys (spki_sha256, certificate_id, blocked_at) VALUES (?, ?, ?)'),
      keyBlocked: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM blocked_keys WHERE spki_sha256 = ?'),
      markDirty: db.prepare(
        'INSERT INTO crl_dirty (issuer_id, shard, marked_at) VALUES (?, ?, ?) ON CONFLICT (issuer_id, shard) DO UPDATE SET marked_at = excluded.marked_at',
      ),
      certificateStatus: db.prepare<[string, string], CertificateStatusRow>(
        `SELECT c.id, c.serial, c.issuer_id, c.not_after, c.revoked_at, c.revocation_reason,
         o.der AS ocsp_der, o.this_update, o.next_update, o.revoked AS ocsp_revoked
         FROM certificates c LEFT JOIN ocsp_responses o ON o.certificate_id = c.id WHERE c.serial = ? AND c.issuer_id = ?`,
      ),
      saveOcsp: db.prepare(
        `INSERT INTO ocsp_responses (certificate_id, der, this_update, next_update, revoked)
         SELECT @id, @der, @thisUpdate, @nextUpdate, @revoked FROM certificates c
         WHERE c.id = @id AND (c.revoked_at IS NOT NULL) = (@revoked = 1)
         ON CONFLICT (certificate_id) DO UPDATE SET der = excluded.der, this_update = excluded.this_update,
           next_update = excluded.next_update, revoked = excluded.revoked`,
      ),
      ocspDue: db.prepare<[number, number, number], CertificateRow>(
        `SELECT c.* FROM certificates c LEFT JOIN ocsp_responses o ON o.certificate_id = c.id
         WHERE c.not_after > ? AND (o.certificate_id IS NULL OR o.next_update < ?) LIMIT ?`,
      ),
      revokedInShard: db.prepare<[string, number, number], RevokedRow>(
        `SELECT serial, revoked_at, revocation_reason, invalidity_date FROM certificates
         WHERE issuer_id = ? AND crl_shard = ? AND revoked_at IS NOT NULL AND not_after > ? ORDER BY revoked_at, serial`,
      ),
      revokedAll: db.prepare<[string, number], RevokedRow>(
        `SELECT serial, revoked_at, revocation_reason, invalidity_date FROM certificates
         WHERE issuer_id = ? AND revoked_at IS NOT NULL AND not_after > ? ORDER BY revoked_at, serial`,
      ),
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
      replacedBy: db.prepare<[string], { id: string }>("SELECT id FROM orders WHERE replaces = ? AND status = 'valid' LIMIT 1"),
      // The "not invalid" rule of domain/status.ts, in SQL (as in the orders list).
      replacingOrder: db.prepare<[{ cert: string; now: number }], { id: string }>(
        `SELECT o.id FROM orders o WHERE o.replaces = @cert AND o.status != 'invalid'
         AND NOT (o.status = 'pending' AND (o.expires_at <= @now OR EXISTS (
           SELECT 1 FROM order_authzs oa JOIN authzs a ON a.id = oa.authz_id WHERE oa.order_id = o.id
           AND (a.status IN ('invalid', 'deactivated', 'revoked') OR a.expires_at <= @now)))) LIMIT 1`,
      ),
      setTrigger: db.prepare(
        'INSERT INTO renewal_triggers (scope, name, triggered_at) VALUES (?, ?, ?) ON CONFLICT (scope, name) DO UPDATE SET triggered_at = excluded.triggered_at',
      ),
      triggers: db.prepare<[], { scope: string; name: string; triggered_at: number }>('SELECT * FROM renewal_triggers'),
      insertEab: db.prepare('INSERT INTO eab_credentials (kid, hmac_key_sealed, policy, note, created_at) VALUES (?, ?, ?, ?, ?)'),
      eabByKid: db.prepare<[string], EabRow>('SELECT * FROM eab_credentials WHERE kid = ?'),
      allEab: db.prepare<[], EabRow>('SELECT * FROM eab_credentials ORDER BY created_at'),
      revokeEab: db.prepare('UPDATE eab_credentials SET revoked_at = ? WHERE kid = ? AND revoked_at IS NULL'),
      useToken: db.prepare('INSERT OR IGNORE INTO used_tokens (issuer, jti, expires_at) VALUES (?, ?, ?)'),
      forgetTokens: db.prepare('DELETE FROM used_tokens WHERE expires_at < ?'),
      issuerStats: db.prepare<[number, string], { unexpired: number; last: number | null }>(
        'SELECT SUM(CASE WHEN not_after > ? THEN 1 ELSE 0 END) AS unexpired, MAX(not_after) AS last FROM certificates WHERE issuer_id = ?',
      ),
      dirtyShards: db.prepare<[], { issuer_id: string; shard: number; marked_at: number }>('SELECT * FROM crl_dirty'),
      clearDirty: db.prepare('DELETE FROM crl_dirty WHERE issuer_id = ? AND shard = ? AND marked_at <= ?'),
    };
  }

  /** Resolves once the writes made so far are durable (a no-op unless durability is `group`). */
  private durable<T>(value: T): Promise<T> | T {
    return this.groupCommit ? this.groupCommit.flush().then(() => value) : value;
  }

  // --- accounts

  async createAccount(account: NewAccount): Promise<AccountRecord> {
    const id = newId();
    try {
      this.stmt.insertAccount.run(
        id,
        'valid',
        JSON.stringify(account.jwk),
        account.thumbprint,
        JSON.stringify(account.contact),
        account.termsOfServiceAgreed ? 1 : 0,
        Date.now(),
        account.externalAccountId ?? null,
      );
    } catch (e) {
      if (isUniqueViolation(e)) {
        const existing = this.stmt.accountByThumbprint.get(account.thumbprint);
        throw new ConflictError('an account with this key exists', existing?.id);
      }
      throw e;
    }
    return this.durable(toAccount(this.stmt.accountById.get(id)!));
  }

  async getAccount(id: string): Promise<AccountRecord | null> {
    const row = this.stmt.accountById.get(id);
    return row ? toAccount(row) : null;
  }

  async findAccountByThumbprint(thumbprint: string): Promise<AccountRecord | null> {
    const row = this.stmt.accountByThumbprint.get(thumbprint);
    return row ? toAccount(row) : null;
  }

  async updateAccountContact(id: string, contact: string[]): Promise<AccountRecord | null> {
    const changed = this.stmt.updateContact.run(JSON.stringify(contact), id).changes;
    return changed === 1 ? this.durable(await this.getAccount(id)) : null;
  }

  async deactivateAccount(id: string): Promise<AccountRecord | null> {
    const changed = this.db.transaction(() => {
      const n = this.stmt.deactivateAccount.run(id).changes;
      if (n === 1) this.stmt.deactivateAccountAuthzs.run(id);
      return n;
    })();
    return changed === 1 ? this.durable(await this.getAccount(id)) : null;
  }

  async changeAccountKey(id: string, oldThumbprint: string, jwk: JsonWebKeyPublic, thumbprint: string): Promise<AccountRecord | null> {
    try {
      const changed = this.stmt.changeKey.run(JSON.stringify(jwk), thumbprint, id, oldThumbprint).changes;
      return changed === 1 ? await this.durable(await this.getAccount(id)) : null;
    } catch (e) {
      if (isUniqueViolation(e)) {
        const existing = this.stmt.accountByThumbprint.get(thumbprint);
        throw new ConflictError('another account holds the new key', existing?.id);
      }
      throw e;
    }
  }

  // --- orders and authorizations

  async createOrder(order: NewOrder): Promise<OrderRecord> {
    const id = newId();
    const now = Date.now();
    this.db.transaction(() => {
      this.stmt.insertOrder.run(
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
      let position = 0;
      for (const authzId of order.reusedAuthzIds) this.stmt.linkAuthz.run(id, position++, authzId);
      for (const a of order.newAuthzs) {
        const authzId = newId();
        this.stmt.insertAuthz.run(
          authzId,
          order.accountId,
          a.identifier.type,
          a.identifier.value,
          a.wildcard ? 1 : 0,
          a.status,
          a.expiresAt.getTime(),
          now,
          a.status === 'valid' ? now : null,
        );
        for (const c of a.challenges) this.stmt.insertChallenge.run(newId(), authzId, c.type, c.token);
        this.stmt.linkAuthz.run(id, position++, authzId);
      }
    })();
    return this.durable((await this.getOrder(id))!);
  }

  async getOrder(id: string): Promise<OrderRecord | null> {
    const row = this.stmt.orderById.get(id);
    if (!row) return null;
    const authzs: OrderAuthzSummary[] = this.stmt.orderAuthzs.all(id).map((a) => ({
      id: a.id,
      status: a.status as OrderAuthzSummary['status'],
      expiresAt: new Date(a.expires_at),
    }));
    return toOrder(row, authzs);
  }

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
    const rows = this.stmt.ordersPage.all({ account: accountId, afterTime, afterId, now: Date.now(), limit: limit + 1 });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return rows.length > limit && last ? { ids: page.map((r) => r.id), next: `${last.created_at}.${last.id}` } : { ids: page.map((r) => r.id) };
  }

  async findReusableAuthzs(
    accountId: string,
    identifiers: { identifier: Identifier; wildcard: boolean }[],
    validatedSince: Date,
    expiresAfter: Date,
  ): Promise<AuthzRecord[]> {
    const found: AuthzRecord[] = [];
    for (const { identifier, wildcard } of identifiers) {
      const row = this.stmt.reusableAuthz.get(
        accountId,
        identifier.type,
        identifier.value,
        wildcard ? 1 : 0,
        validatedSince.getTime(),
        expiresAfter.getTime(),
      );
      if (row) found.push(toAuthz(row, this.challengesOf(row.id)));
    }
    return found;
  }

  async findAuthorizedIdentifiers(accountId: string, identifiers: Identifier[], now: Date): Promise<Identifier[]> {
    return identifiers.filter(
      (i) => this.stmt.authorizedIdentifier.get(accountId, i.type, i.value, now.getTime()) !== undefined,
    );
  }

  async getAuthz(id: string): Promise<AuthzRecord | null> {
    const row = this.stmt.authzById.get(id);
    return row ? toAuthz(row, this.challengesOf(id)) : null;
  }

  async deactivateAuthz(id: string): Promise<AuthzRecord | null> {
    const changed = this.stmt.deactivateAuthz.run(id).changes;
    return changed === 1 ? this.durable(await this.getAuthz(id)) : null;
  }

  private challengesOf(authzId: string): ChallengeRecord[] {
    return this.stmt.challengesByAuthz.all(authzId).map(toChallenge);
  }

  // --- challenges

  async getChallenge(id: string): Promise<ChallengeRecord | null> {
    const row = this.stmt.challengeById.get(id);
    return row ? toChallenge(row) : null;
  }

  async startChallenge(id: string, now: Date): Promise<boolean> {
    return this.stmt.startChallenge.run(id, now.getTime()).changes === 1 ? this.durable(true) : false;
  }

  async recordValidation(challengeId: string, result: ValidationResult): Promise<boolean> {
    const recorded = this.db.transaction(() => {
      const challenge = this.stmt.challengeById.get(challengeId);
      if (!challenge) return false;
      const now = Date.now();
      const changed = this.stmt.finishChallenge.run(
        result.status,
        result.status === 'valid' ? now : null,
        result.error ? JSON.stringify(result.error) : null,
        JSON.stringify(result.validationRecord),
        challengeId,
      ).changes;
      if (changed !== 1) return false;
      const authz = this.stmt.authzById.get(challenge.authz_id)!;
      this.stmt.finishAuthz.run(
        result.status,
        result.status === 'valid' ? result.authzExpiresAt.getTime() : authz.expires_at,
        result.status === 'valid' ? now : null,
        challenge.authz_id,
      );
      return true;
    })();
    return recorded ? this.durable(true) : false;
  }

  async listProcessingChallenges(): Promise<string[]> {
    return this.stmt.processingChallenges.all().map((r) => r.id);
  }

  // --- issuance

  async beginFinalize(orderId: string, csr: Uint8Array, serial: string, issuerId: string): Promise<boolean> {
    const begun = this.db.transaction(() => {
      if (this.stmt.beginFinalize.run(Buffer.from(csr), orderId).changes !== 1) return false;
      this.stmt.reserveSerial.run(serial, issuerId, orderId, Date.now());
      return true;
    })();
    return begun ? this.durable(true) : false;
  }

  async completeFinalize(orderId: string, c: NewCertificate): Promise<CertificateRecord> {
    const id = newId();
    this.db.transaction(() => {
      this.stmt.insertCertificate.run(
        id,
        c.serial,
        c.issuerId,
        c.accountId,
        c.orderId,
        c.profile,
        JSON.stringify(c.identifiers),
        c.notBefore.getTime(),
        c.notAfter.getTime(),
        Buffer.from(c.der),
        c.chainPem,
        c.spkiSha256,
        Date.now(),
        c.crlShard,
        c.profileHash,
        c.renewalStart.getTime(),
        c.renewalEnd.getTime(),
      );
      if (this.stmt.completeOrder.run(id, orderId).changes !== 1) {
        throw new ConflictError(`order ${orderId} is not processing`);
      }
    })();
    return this.durable(toCertificate(this.stmt.certificateById.get(id)!));
  }

  async abortFinalize(orderId: string, outcome: { status: 'pending' } | { status: 'invalid'; error: ProblemDocument }): Promise<void> {
    this.stmt.abortOrder.run(outcome.status, outcome.status === 'invalid' ? JSON.stringify(outcome.error) : null, orderId);
    await this.durable(undefined);
  }

  async listProcessingOrders(): Promise<ProcessingOrder[]> {
    return this.stmt.processingOrders.all().map((r) => ({ id: r.id, csr: new Uint8Array(r.csr) }));
  }

  // --- certificates

  async getCertificate(id: string): Promise<CertificateRecord | null> {
    const row = this.stmt.certificateById.get(id);
    return row ? toCertificate(row) : null;
  }

  async findCertificateBySerial(serial: string): Promise<CertificateRecord | null> {
    const row = this.stmt.certificateBySerial.get(serial);
    return row ? toCertificate(row) : null;
  }

  async revokeCertificate(id: string, r: Revocation): Promise<boolean> {
    const revoked = this.db.transaction(() => {
      if (this.stmt.revoke.run(r.at.getTime(), r.reason, r.invalidityDate?.getTime() ?? null, id).changes !== 1) return false;
      const cert = this.stmt.certificateById.get(id)!;
      if (r.ocsp) {
        this.stmt.saveOcsp.run({ id, der: Buffer.from(r.ocsp.der), thisUpdate: r.ocsp.thisUpdate.getTime(), nextUpdate: r.ocsp.nextUpdate.getTime(), revoked: 1 });
      }
      if (r.blockKey) this.stmt.blockKey.run(cert.spki_sha256, id, r.at.getTime());
      const now = Date.now();
      this.stmt.markDirty.run(cert.issuer_id, cert.crl_shard, now);
      this.stmt.markDirty.run(cert.issuer_id, FULL_CRL, now);
      return true;
    })();
    return revoked ? this.durable(true) : false;
  }

  async findReplacingOrder(certificateId: string, issuedOnly: boolean): Promise<string | null> {
    const row = issuedOnly ? this.stmt.replacedBy.get(certificateId) : this.stmt.replacingOrder.get({ cert: certificateId, now: Date.now() });
    return row?.id ?? null;
  }

  async setRenewalTrigger(trigger: RenewalTrigger): Promise<void> {
    this.stmt.setTrigger.run(trigger.scope, trigger.name, trigger.at.getTime());
    await this.durable(undefined);
  }

  async listRenewalTriggers(): Promise<RenewalTrigger[]> {
    return this.stmt.triggers.all().map((r) => ({ scope: r.scope as RenewalTrigger['scope'], name: r.name, at: new Date(r.triggered_at) }));
  }

  async isKeyBlocked(spkiSha256: string): Promise<boolean> {
    return this.stmt.keyBlocked.get(spkiSha256) !== undefined;
  }

  // --- OCSP and CRLs

  async getCertificateStatus(issuerId: string, serial: string): Promise<CertificateStatus | null> {
    const r = this.stmt.certificateStatus.get(serial, issuerId);
    if (!r) return null;
    return {
      id: r.id,
      serial: r.serial,
      issuerId: r.issuer_id,
      notAfter: new Date(r.not_after),
      revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at),
      revocationReason: r.revocation_reason,
      ocsp:
        r.ocsp_der === null
          ? null
          : { der: new Uint8Array(r.ocsp_der), thisUpdate: new Date(r.this_update!), nextUpdate: new Date(r.next_update!), revoked: r.ocsp_revoked === 1 },
    };
  }

  async saveOcspResponse(certificateId: string, response: SignedOcspResponse, signedAsRevoked: boolean): Promise<boolean> {
    const changed = this.stmt.saveOcsp.run({
      id: certificateId,
      der: Buffer.from(response.der),
      thisUpdate: response.thisUpdate.getTime(),
      nextUpdate: response.nextUpdate.getTime(),
      revoked: signedAsRevoked ? 1 : 0,
    }).changes;
    return changed === 1 ? this.durable(true) : false;
  }

  async listOcspDue(refreshBefore: Date, expiredAfter: Date, limit: number): Promise<CertificateRecord[]> {
    return this.stmt.ocspDue.all(expiredAfter.getTime(), refreshBefore.getTime(), limit).map(toCertificate);
  }

  async listRevoked(issuerId: string, shard: number, notAfterAfter: Date): Promise<RevokedEntry[]> {
    const rows = shard === FULL_CRL ? this.stmt.revokedAll.all(issuerId, notAfterAfter.getTime()) : this.stmt.revokedInShard.all(issuerId, shard, notAfterAfter.getTime());
    return rows.map((r) => ({
      serial: r.serial,
      revokedAt: new Date(r.revoked_at),
      reason: r.revocation_reason,
      invalidityDate: r.invalidity_date === null ? null : new Date(r.invalidity_date),
    }));
  }

  async allocateCrlNumber(issuerId: string): Promise<number> {
    return this.durable(this.stmt.bumpCrlNumber.get(issuerId)!.last_number);
  }

  async saveCrl(crl: StoredCrl): Promise<void> {
    this.stmt.saveCrl.run({
      issuerId: crl.issuerId,
      shard: crl.shard,
      number: crl.number,
      thisUpdate: crl.thisUpdate.getTime(),
      nextUpdate: crl.nextUpdate.getTime(),
      der: Buffer.from(crl.der),
    });
    await this.durable(undefined);
  }

  async getCrl(issuerId: string, shard: number): Promise<StoredCrl | null> {
    const r = this.stmt.getCrl.get(issuerId, shard);
    if (!r) return null;
    return { issuerId: r.issuer_id, shard: r.shard, number: r.number, thisUpdate: new Date(r.this_update), nextUpdate: new Date(r.next_update), der: new Uint8Array(r.der) };
  }

  async listDirtyCrlShards(): Promise<{ issuerId: string; shard: number; markedAt: Date }[]> {
    return this.stmt.dirtyShards.all().map((r) => ({ issuerId: r.issuer_id, shard: r.shard, markedAt: new Date(r.marked_at) }));
  }

  async clearDirtyCrlShard(issuerId: string, shard: number, upTo: Date): Promise<void> {
    this.stmt.clearDirty.run(issuerId, shard, upTo.getTime());
    await this.durable(undefined);
  }

  // --- external account binding and workload tokens

  async createEab(c: Omit<EabCredential, 'createdAt' | 'revokedAt'>): Promise<EabCredential> {
    try {
      this.stmt.insertEab.run(c.kid, Buffer.from(c.hmacKeySealed), JSON.stringify(c.policy), c.note, Date.now());
    } catch (e) {
      if (isUniqueViolation(e)) throw new ConflictError(`EAB key id ${c.kid} exists`, c.kid);
      throw e;
    }
    return this.durable(toEab(this.stmt.eabByKid.get(c.kid)!));
  }

  async getEab(kid: string): Promise<EabCredential | null> {
    const row = this.stmt.eabByKid.get(kid);
    return row ? toEab(row) : null;
  }

  async listEab(): Promise<EabCredential[]> {
    return this.stmt.allEab.all().map(toEab);
  }

  async revokeEab(kid: string): Promise<boolean> {
    return this.stmt.revokeEab.run(Date.now(), kid).changes === 1 ? this.durable(true) : false;
  }

  async useTokenOnce(issuer: string, jti: string, expiresAt: Date): Promise<boolean> {
    const fresh = this.db.transaction(() => {
      // Forget jtis whose tokens expired long ago: they can no longer be replayed anyway.
      this.stmt.forgetTokens.run(Date.now() - 3_600_000);
      return this.stmt.useToken.run(issuer, jti, expiresAt.getTime()).changes === 1;
    })();
    return fresh ? this.durable(true) : false;
  }

  async issuerCertificateStats(issuerId: string, now: Date): Promise<{ unexpired: number; lastNotAfter: Date | null }> {
    const r = this.stmt.issuerStats.get(now.getTime(), issuerId);
    return { unexpired: r?.unexpired ?? 0, lastNotAfter: r?.last ? new Date(r.last) : null };
  }

  // --- lifecycle

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.groupCommit) await this.groupCommit.flush().catch(() => undefined);
    this.groupCommit?.close();
    if (this.db.open) this.db.close();
  }
}
