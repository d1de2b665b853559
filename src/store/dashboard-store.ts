/**
 * The operator dashboard's part of the store: reads of counters kept at write time and indexed
 * pages with LIMIT, so that no call costs in proportion to the number of stored certificates.
 */
import type { AccountRecord, AuditRecord, CertificateRecord } from './types.js';

/** Inventory search; every filter is optional, pages are ordered by expiry then id. */
export interface InventoryQuery {
  /** Exact DNS name or IP address (lowercase). */
  name?: string;
  serial?: string;
  accountId?: string;
  profile?: string;
  issuerId?: string;
  revoked?: boolean;
  expiresAfter?: Date;
  expiresBefore?: Date;
  /** From a previous page's `next`. */
  cursor?: string;
  limit: number;
}

export interface InventoryPage {
  certificates: CertificateRecord[];
  /** Opaque cursor of the next page; null on the last one. */
  next: string | null;
}

/** One hour of activity; hours without any are left out. */
export interface HourlyActivity {
  hour: Date;
  issued: number;
  failedValidations: number;
  revoked: number;
}

/** Unexpired, unrevoked certificates of one profile under one issuer. */
export interface LiveCount {
  profile: string;
  issuerId: string;
  live: number;
}

export interface ExpiringSummary {
  total: number;
  withSuccessor: number;
  withoutSuccessor: number;
}

export interface CrlState {
  issuerId: string;
  /** The shard, or -1 for the full CRL. */
  shard: number;
  number: number;
  thisUpdate: Date;
  nextUpdate: Date;
}

export interface OcspFreshness {
  issuerId: string;
  /** Live certificates whose pre-signed answer's nextUpdate is in an hour already past. */
  overdue: number;
  /** Earliest nextUpdate hour among live certificates' pre-signed answers. */
  earliestNextUpdate: Date | null;
}

/** A linked certificate, as far as a link on the certificate page needs it. */
export interface CertificateRef {
  id: string;
  serial: string;
  notAfter: Date;
  revoked: boolean;
}

export interface CertificateLinks {
  predecessors: CertificateRef[];
  successor: CertificateRef | null;
}

export interface AccountPage {
  accounts: AccountRecord[];
  next: string | null;
}

export interface AccountOrder {
  id: string;
  status: string;
  identifiers: string[];
  profile: string;
  createdAt: Date;
  certificateId: string | null;
  error: unknown;
}

export interface AccountFailure {
  challengeId: string;
  type: string;
  identifier: string;
  finishedAt: Date | null;
  error: unknown;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  subject?: string;
  /** Records with a lower sequence number (the next page of a newest-first listing). */
  beforeSeq?: number;
  limit: number;
}

export interface DashboardStore {
  /** Inventory page: indexed, LIMITed, keyset-paginated. Throws RangeError on a malformed cursor. */
  searchInventory(query: InventoryQuery): Promise<InventoryPage>;
  /** Issued certificates, failed validations and revocations per hour in [from, to). */
  hourlyActivity(from: Date, to: Date): Promise<HourlyActivity[]>;
  /** Unexpired, unrevoked certificates per profile and issuer at `now`. */
  liveCertificateCounts(now: Date): Promise<LiveCount[]>;
  /** Unrevoked certificates expiring in (now, until], with and without a successor. */
  expiringSummary(now: Date, until: Date): Promise<ExpiringSummary>;
  /** Every stored CRL's number and times (not its DER). */
  crlStates(): Promise<CrlState[]>;
  /** Per issuer with pre-signed answers: how many live certificates have an overdue one. */
  ocspFreshness(now: Date): Promise<OcspFreshness[]>;
  /** The certificates a certificate succeeds, and its successor. */
  certificateLinks(certificateId: string): Promise<CertificateLinks>;
  /** Accounts, newest first. */
  listAccounts(limit: number, cursor?: string): Promise<AccountPage>;
  /** An account's newest orders and newest failed challenges. */
  accountActivity(accountId: string, limit: number): Promise<{ orders: AccountOrder[]; failures: AccountFailure[] }>;
  /** Audit records newest first, filtered by exact actor, action and/or subject. */
  searchAudit(query: AuditQuery): Promise<AuditRecord[]>;
}
