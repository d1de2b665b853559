/**
 * The one storage interface. Every method is async (a PostgreSQL backend follows SQLite) and
 * every method that changes state is a single transaction: callers never compose transactions,
 * they call the method that names the state change. Compare-and-swap methods return false (or
 * null) when the record was not in the expected state, so concurrent requests cannot both win.
 */
import type { Identifier, ProblemDocument } from '../acme/problem.js';
import type { DashboardStore } from './dashboard-store.js';
import type {
  AccountRecord,
  AdminRole,
  AdminToken,
  AuditEvent,
  AuditRecord,
  CertificateQuery,
  AuthzRecord,
  CertificateRecord,
  CertificateStatus,
  EabCredential,
  ChallengeRecord,
  JsonWebKeyPublic,
  NewAccount,
  NewCertificate,
  NewOrder,
  OrderRecord,
  RenewalTrigger,
  CrlEntryList,
  RevokedEntry,
  Revocation,
  SignedOcspResponse,
  StoredCrl,
  ValidationResult,
} from './types.js';

export interface ListPage {
  ids: string[];
  /** Opaque cursor for the next page, absent on the last page. */
  next?: string;
}

/** Events in a window: how many, and when the oldest happened (a slot frees when it leaves). */
export interface WindowCount {
  count: number;
  oldest: Date | null;
}

/** What a rate-limit count of new orders is grouped by. */
export type OrderCountScope = { accountId: string } | { registeredDomain: string } | { profile: string };

export interface ProcessingOrder {
  id: string;
  csr: Uint8Array;
}

/**
 * Background upkeep, each call one bounded batch that returns how many rows it visited, kept or
 * purged (a caller repeats while the answer is non-zero). Cursors kept in the store make each batch start where
 * the last ended.
 */
export interface MaintenanceStore {
  /** Moves certificates stored before names, renewal links, counters and shared chains existed. */
  backfillCertificates(limit: number, now: Date): Promise<number>;
  /** Purges orders without a certificate, unlinked authorizations with their challenges, used token ids and legacy rows that expired before `cutoff`. */
  purgeExpired(cutoff: Date, limit: number): Promise<number>;
  /** Purges the pre-signed OCSP answers (and due OCSP work) of certificates that expired before `notAfterBefore`. */
  purgeExpiredOcsp(notAfterBefore: Date, limit: number): Promise<number>;
  /** Purges counter buckets older than `before` (finer and expiry buckets as soon as no window needs them). */
  purgeCounters(before: Date, limit: number): Promise<number>;
  /** Purges certificates that expired before `notAfterBefore`; revoked ones only once expired before `revokedNotAfterBefore` (off every CRL). */
  purgeCertificates(notAfterBefore: Date, revokedNotAfterBefore: Date, limit: number): Promise<number>;
}

/** A lease on a periodic task: who holds it until when; `fence` grows with each new holder. */
export interface Lease {
  task: string;
  holder: string;
  expiresAt: Date;
  fence: number;
  acquiredAt: Date;
}

export interface InstanceRecord {
  id: string;
  host: string;
  pid: number;
  startedAt: Date;
  seenAt: Date;
}

/** What processes and instances sharing one store coordinate through. */
export interface CoordinationStore {
  /** True for the first redemption of a nonce id, on any instance; false for every later one. */
  redeemNonce(id: string, expiresAt: Date): Promise<boolean>;
  /** Forgets redemptions of nonces that expired before `before` (bounded batch). */
  purgeUsedNonces(before: Date, limit: number): Promise<number>;
  /**
   * Takes the lease on `task` for `ttlMs` if it is free or expired, or renews it for its holder;
   * returns the lease's fence (it grows with every change of holder), or null when another holds it.
   */
  acquireLease(task: string, holder: string, ttlMs: number): Promise<number | null>;
  /** Gives a held lease up at once (a clean shutdown), so another takes it without waiting. */
  releaseLease(task: string, holder: string): Promise<void>;
  listLeases(): Promise<Lease[]>;
  /** Records that an instance is alive. */
  heartbeat(instance: { id: string; host: string; pid: number }): Promise<void>;
  listInstances(seenSince: Date): Promise<InstanceRecord[]>;
  forgetInstances(seenBefore: Date): Promise<number>;
  /** A small document the holder of a task publishes for every instance (e.g. anomaly findings). */
  putSharedState(key: string, value: string): Promise<void>;
  getSharedState(key: string): Promise<{ value: string; updatedAt: Date } | null>;
}

/** Accounts, and the count of those created from one address. */
export interface AccountStore {
  /** Throws ConflictError (with the existing account id) when the key is already registered. */
  createAccount(account: NewAccount): Promise<AccountRecord>;
  getAccount(id: string): Promise<AccountRecord | null>;
  findAccountByThumbprint(thumbprint: string): Promise<AccountRecord | null>;
  updateAccountContact(id: string, contact: string[]): Promise<AccountRecord | null>;
  /** Deactivates a valid account and its pending authorizations (RFC 8555 §7.3.6). */
  deactivateAccount(id: string): Promise<AccountRecord | null>;
  /**
   * Replaces the account key if the current key still has `oldThumbprint` (§7.3.5).
   * Throws ConflictError when another account holds the new key; returns null on a stale old key.
   */
  changeAccountKey(id: string, oldThumbprint: string, jwk: JsonWebKeyPublic, thumbprint: string): Promise<AccountRecord | null>;
  countAccountsFromIp(ip: string, since: Date): Promise<WindowCount>;
}

/** Orders, authorizations and challenges, with the counts their rate limits use (counted from the store, so every instance sharing it agrees). */
export interface OrderStore {
  /** Creates the order with its new authorizations and links reused ones, atomically. */
  createOrder(order: NewOrder): Promise<OrderRecord>;
  getOrder(id: string): Promise<OrderRecord | null>;
  /** The account's orders, oldest first, leaving out invalid ones (RFC 8555 §7.1.2.1). */
  listAccountOrders(accountId: string, limit: number, cursor?: string): Promise<ListPage>;
  /**
   * Valid authorizations of the account for these identifiers that were validated at or after
   * `validatedSince` and expire after `expiresAfter`; the newest per identifier.
   */
  findReusableAuthzs(
    accountId: string,
    identifiers: { identifier: Identifier; wildcard: boolean }[],
    validatedSince: Date,
    expiresAfter: Date,
  ): Promise<AuthzRecord[]>;
  /** Identifiers (of those given) for which the account holds an unexpired valid authorization. */
  findAuthorizedIdentifiers(accountId: string, identifiers: Identifier[], now: Date): Promise<Identifier[]>;
  getAuthz(id: string): Promise<AuthzRecord | null>;
  /** pending|valid → deactivated (§7.5.2); null when the authorization was in another state. */
  deactivateAuthz(id: string): Promise<AuthzRecord | null>;
  getChallenge(id: string): Promise<ChallengeRecord | null>;
  /** pending → processing, only while its authorization is pending and unexpired. */
  startChallenge(id: string, now: Date): Promise<boolean>;
  /** processing → valid|invalid, moving the authorization to the same status in one transaction. */
  recordValidation(challengeId: string, result: ValidationResult): Promise<boolean>;
  listProcessingChallenges(): Promise<string[]>;
  /**
   * Claims up to `limit` challenges in `processing` whose claim ended before `before` (their
   * process died or stopped) for `claimForMs`; each is claimed by one caller only.
   */
  claimStaleChallenges(before: Date, claimForMs: number, limit: number): Promise<string[]>;
  /** Extends to `until` the claim of those of `ids` still `processing` (validations this process has not finished). */
  renewChallengeClaims(ids: string[], until: Date): Promise<void>;
  countOrders(scope: OrderCountScope, since: Date): Promise<WindowCount>;
  countFailedValidations(accountId: string, since: Date): Promise<WindowCount>;
  /**
   * An order that replaces this certificate (by `replaces`): with `issuedOnly`, one that is valid;
   * otherwise any that is not invalid (RFC 9773 §5).
   */
  findReplacingOrder(certificateId: string, issuedOnly: boolean): Promise<string | null>;
}

/** Issuance (finalize as three steps) and the certificates it records. */
export interface CertificateStore {
  countExpiringCertificates(from: Date, until: Date): Promise<number>;
  /**
   * pending → processing for a ready order: stores the CSR and reserves the serial (unique
   * across the store) before anything is signed. Returns false if the order was not pending.
   */
  beginFinalize(orderId: string, csr: Uint8Array, serial: string, issuerId: string): Promise<boolean>;
  /** Records the certificate and moves the order processing → valid, atomically. */
  completeFinalize(orderId: string, certificate: NewCertificate): Promise<CertificateRecord>;
  /** processing → pending (retryable, e.g. signer unavailable) or → invalid with an error. */
  abortFinalize(orderId: string, outcome: { status: 'pending' } | { status: 'invalid'; error: ProblemDocument }): Promise<void>;
  listProcessingOrders(): Promise<ProcessingOrder[]>;
  /** Claims orders left `processing` whose claim ended before `before`, as claimStaleChallenges. */
  claimStaleOrders(before: Date, claimForMs: number, limit: number): Promise<ProcessingOrder[]>;
  getCertificate(id: string): Promise<CertificateRecord | null>;
  findCertificateBySerial(serial: string): Promise<CertificateRecord | null>;
  /** How many of an issuer's certificates are unexpired, and when its last one expires. */
  issuerCertificateStats(issuerId: string, now: Date): Promise<{ unexpired: number; lastNotAfter: Date | null }>;
  /** Inventory search (admin API), ordered by expiry. */
  searchCertificates(query: CertificateQuery): Promise<CertificateRecord[]>;
}

/** Revocation, OCSP answers and CRLs. */
export interface RevocationStore {
  /**
   * Marks the certificate revoked, in one transaction with its revoked-state OCSP response, the
   * key block (keyCompromise) and the CRL shards to regenerate; false if it already was revoked.
   */
  revokeCertificate(id: string, revocation: Revocation): Promise<boolean>;
  isKeyBlocked(spkiSha256: string): Promise<boolean>;
  getCertificateStatus(issuerId: string, serial: string): Promise<CertificateStatus | null>;
  /** Whether an issuer's certificate is revoked (null: no such certificate); the OCSP cache's check. */
  isRevoked(issuerId: string, serial: string): Promise<boolean | null>;
  /**
   * Stores a pre-signed response, but only if the certificate's revocation state is still the one
   * it was signed for (so a refresh racing a revocation cannot overwrite the revoked answer).
   */
  saveOcspResponse(certificateId: string, response: SignedOcspResponse, signedAsRevoked: boolean): Promise<boolean>;
  /**
   * OCSP work that is due, oldest first, read from an index of due work only: certificates still
   * without a pre-signed answer, then answers whose `refreshAt` has passed.
   */
  listOcspDue(now: Date, limit: number): Promise<CertificateRecord[]>;
  /** Takes a certificate off the OCSP work index (it expired: nothing to sign any more). */
  dropOcspWork(certificateId: string): Promise<void>;
  /** Since when the oldest certificate has waited for its first answer, and the oldest refresh due. */
  ocspBacklog(): Promise<{ oldestPendingSince: Date | null; oldestRefreshDueAt: Date | null }>;
  /** The stored CRL entries of an issuer's revoked certificates (one shard, or all with FULL_CRL) that expire after `notAfterAfter`. */
  crlEntries(issuerId: string, shard: number, notAfterAfter: Date): Promise<CrlEntryList>;
  /** Revoked certificates without a stored CRL entry (revoked before entries were stored), up to `limit`. */
  listRevokedWithoutCrlEntry(limit: number): Promise<(RevokedEntry & { issuerId: string })[]>;
  /** Stores the CRL entry of a revoked certificate that has none. */
  saveCrlEntry(serial: string, entry: Uint8Array): Promise<void>;
  /** The next CRL number of an issuer: strictly greater than every number handed out before. */
  allocateCrlNumber(issuerId: string): Promise<number>;
  saveCrl(crl: StoredCrl): Promise<void>;
  getCrl(issuerId: string, shard: number): Promise<StoredCrl | null>;
  /** CRL shards marked by revocations since their last publication. */
  listDirtyCrlShards(): Promise<{ issuerId: string; shard: number; markedAt: Date }[]>;
  /** Clears a dirty mark if it was made at or before `upTo` (a later revocation keeps it). */
  clearDirtyCrlShard(issuerId: string, shard: number, upTo: Date): Promise<void>;
}

/** External account binding, workload-token ids, renewal triggers and admin tokens. */
export interface IdentityStore {
  setRenewalTrigger(trigger: RenewalTrigger, actor: string): Promise<void>;
  listRenewalTriggers(): Promise<RenewalTrigger[]>;
  createEab(credential: Omit<EabCredential, 'createdAt' | 'revokedAt'>, actor: string): Promise<EabCredential>;
  getEab(kid: string): Promise<EabCredential | null>;
  listEab(): Promise<EabCredential[]>;
  /** Marks a credential revoked; false if unknown or already revoked. */
  revokeEab(kid: string, actor: string): Promise<boolean>;
  /** Records a token's jti; false when the same issuer's jti was used before (a replay). */
  useTokenOnce(issuer: string, jti: string, expiresAt: Date): Promise<boolean>;
  createAdminToken(token: { id: string; tokenSha256: string; role: AdminRole; name: string }, actor: string): Promise<void>;
  findAdminToken(tokenSha256: string): Promise<AdminToken | null>;
  listAdminTokens(): Promise<AdminToken[]>;
  revokeAdminToken(id: string, actor: string): Promise<boolean>;
}

/** The hash-chained audit log. */
export interface AuditStore {
  /** Appends an event that is not part of another state change (those audit themselves). */
  appendAudit(event: AuditEvent): Promise<void>;
  readAudit(afterSeq: number, limit: number): Promise<AuditRecord[]>;
  /** The newest audit record's sequence number and hash (the chain head), or null for an empty log. */
  auditHead(): Promise<{ seq: number; hash: string } | null>;
}

/** The fleet scans behind anomaly detection. */
export interface FleetStore {
  /** Unrevoked certificates that expired in [from, to) with no later certificate for any of their names. */
  findExpiredWithoutSuccessor(from: Date, to: Date, limit: number): Promise<CertificateRecord[]>;
  /**
   * Successors issued after `since` long before their predecessor's renewal window: earlier than
   * `fraction` of the way from notBefore to the window start, counted back from the start.
   */
  findEarlyRenewals(since: Date, fraction: number, limit: number): Promise<{ previous: CertificateRecord; successor: CertificateRecord }[]>;
  /** Failed validations since `since`, grouped by account or by identifier, where at least `minimum`. */
  failedValidationGroups(by: 'account' | 'identifier', since: Date, minimum: number): Promise<{ key: string; count: number; accounts: string[] }[]>;
  /**
   * Certificates issued in [from, to) per account or profile, from counters kept at issuance: of
   * the given keys only, or of every key with at least `minimum`. The bucket cut by the window's
   * start does not count.
   */
  issuanceCounts(by: 'account' | 'profile', from: Date, to: Date, options?: { keys?: string[]; minimum?: number }): Promise<{ key: string; count: number }[]>;
  countRevocations(from: Date, to: Date): Promise<number>;
}

/**
 * The whole store: its parts (each backend implements each part in a module of its own), the
 * dashboard's reads (dashboard-store.ts), and its lifecycle.
 */
export interface Store
  extends AccountStore, OrderStore, CertificateStore, RevocationStore, IdentityStore, AuditStore, FleetStore, MaintenanceStore, CoordinationStore, DashboardStore {
  /** Throws if the store cannot serve reads and writes. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
