/**
 * Row shapes of the SQL schema (SQLite and PostgreSQL name their columns alike) and their mapping to
 * store records. Times are milliseconds since the epoch; flags arrive as 0/1 from SQLite and as
 * booleans from PostgreSQL.
 */
import type { Identifier, ProblemDocument } from '../../acme/problem.js';
import type {
  AccountRecord,
  AdminRole,
  AdminToken,
  AuditRecord,
  AuthzRecord,
  CertificateRecord,
  CertificateStatus,
  ChallengeRecord,
  EabCredential,
  EabPolicy,
  OrderAuthzSummary,
  OrderRecord,
} from '../types.js';
import { unpackDer } from './der-at-rest.js';
import { unpackRecord } from './record-at-rest.js';

/** A boolean column: INTEGER 0/1 in SQLite, BOOLEAN in PostgreSQL. */
export type Flag = number | boolean;

/** Whether a boolean column is set, in either dialect. */
export const isSet = (v: Flag | null): boolean => v === true || v === 1;

export interface AccountRow {
  id: string;
  status: string;
  jwk: string;
  thumbprint: string;
  contact: string;
  tos_agreed: Flag;
  created_at: number;
  external_account_id: string | null;
}

export interface OrderRow {
  id: string;
  account_id: string;
  status: string;
  identifiers: string;
  profile: string;
  not_before: number | null;
  not_after: number | null;
  expires_at: number;
  created_at: number;
  error: string | null;
  certificate_id: string | null;
  replaces: string | null;
  replaces_cert_id: string | null;
}

export interface AuthzRow {
  id: string;
  account_id: string;
  identifier_type: string;
  identifier_value: string;
  wildcard: Flag;
  status: string;
  expires_at: number;
  created_at: number;
}

export interface ChallengeRow {
  id: string;
  authz_id: string;
  type: string;
  token: string;
  status: string;
  validated_at: number | null;
  error: string | null;
  /** Records written before they were packed (see record-at-rest.ts); null in newer rows. */
  validation_record: string | null;
  validation_record_packed: Buffer | null;
}

export interface CertificateRow {
  id: string;
  serial: string;
  issuer_id: string;
  account_id: string;
  order_id: string;
  profile: string;
  identifiers: string;
  not_before: number;
  not_after: number;
  /** See der-at-rest.ts: as is, or deflated against `der_dictionary`. */
  der: Buffer;
  der_dictionary: Buffer | null;
  chain_pem: string;
  spki_sha256: string;
  issued_at: number;
  revoked_at: number | null;
  revocation_reason: number | null;
  crl_shard: number;
  invalidity_date: number | null;
  profile_hash: string;
  renewal_start: number;
  renewal_end: number;
}

/**
 * The columns of a certificate record, its chain resolved from the issuer's stored chain (rows
 * written before chains were stored once still carry their own until the back-fill moves them).
 */
export const CERT_COLUMNS = `c.id, c.serial, c.issuer_id, c.account_id, c.order_id, c.profile, c.identifiers, c.not_before, c.not_after,
  c.der, ch.leaf_dictionary AS der_dictionary, COALESCE(ch.pem, c.chain_pem) AS chain_pem, c.spki_sha256, c.issued_at, c.revoked_at, c.revocation_reason, c.crl_shard,
  c.invalidity_date, c.profile_hash, c.renewal_start, c.renewal_end`;
export const CHAIN_JOIN = 'LEFT JOIN certificate_chains ch ON ch.id = c.chain_id';
export const CERT_FROM = `certificates c ${CHAIN_JOIN}`;

export interface CertificateStatusRow {
  id: string;
  serial: string;
  issuer_id: string;
  not_after: number;
  revoked_at: number | null;
  revocation_reason: number | null;
  /** See der-at-rest.ts: as is, or deflated against `ocsp_dictionary`, its issuer's first stored answer. */
  ocsp_der: Buffer | null;
  ocsp_dictionary: Buffer | null;
  this_update: number | null;
  next_update: number | null;
  ocsp_revoked: Flag | null;
}

export interface EntryListRow {
  n: number;
  der: Buffer | null;
}

export interface RevokedRow {
  serial: string;
  revoked_at: number;
  revocation_reason: number;
  invalidity_date: number | null;
  issuer_id: string;
}

export interface CrlRow {
  issuer_id: string;
  shard: number;
  number: number;
  this_update: number;
  next_update: number;
  der: Buffer;
}

export interface EabRow {
  kid: string;
  hmac_key_sealed: Buffer;
  policy: string;
  note: string;
  created_at: number;
  revoked_at: number | null;
}

export function toEab(r: EabRow): EabCredential {
  return {
    kid: r.kid,
    hmacKeySealed: new Uint8Array(r.hmac_key_sealed),
    policy: JSON.parse(r.policy) as EabPolicy,
    note: r.note,
    createdAt: new Date(r.created_at),
    revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at),
  };
}

const date = (ms: number): Date => new Date(ms);
const optionalDate = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

export function toAccount(r: AccountRow): AccountRecord {
  return {
    id: r.id,
    status: r.status as AccountRecord['status'],
    jwk: JSON.parse(r.jwk) as AccountRecord['jwk'],
    thumbprint: r.thumbprint,
    contact: JSON.parse(r.contact) as string[],
    termsOfServiceAgreed: isSet(r.tos_agreed),
    externalAccountId: r.external_account_id,
    createdAt: date(r.created_at),
  };
}

export function toOrder(r: OrderRow, authorizations: OrderAuthzSummary[]): OrderRecord {
  return {
    id: r.id,
    accountId: r.account_id,
    status: r.status as OrderRecord['status'],
    identifiers: JSON.parse(r.identifiers) as Identifier[],
    profile: r.profile,
    notBefore: optionalDate(r.not_before),
    notAfter: optionalDate(r.not_after),
    expiresAt: date(r.expires_at),
    createdAt: date(r.created_at),
    error: r.error === null ? null : (JSON.parse(r.error) as ProblemDocument),
    certificateId: r.certificate_id,
    replaces: r.replaces,
    replacesCertId: r.replaces_cert_id,
    authorizations,
  };
}

export function toChallenge(r: ChallengeRow): ChallengeRecord {
  return {
    id: r.id,
    authzId: r.authz_id,
    type: r.type,
    token: r.token,
    status: r.status as ChallengeRecord['status'],
    validatedAt: optionalDate(r.validated_at),
    error: r.error === null ? null : (JSON.parse(r.error) as ProblemDocument),
    validationRecord: r.validation_record_packed
      ? unpackRecord(r.validation_record_packed)
      : r.validation_record === null
        ? null
        : (JSON.parse(r.validation_record) as unknown[]),
  };
}

export function toAuthz(r: AuthzRow, challenges: ChallengeRecord[]): AuthzRecord {
  return {
    id: r.id,
    accountId: r.account_id,
    identifier: { type: r.identifier_type, value: r.identifier_value },
    wildcard: isSet(r.wildcard),
    status: r.status as AuthzRecord['status'],
    expiresAt: date(r.expires_at),
    createdAt: date(r.created_at),
    challenges,
  };
}

export function toCertificate(r: CertificateRow): CertificateRecord {
  return {
    id: r.id,
    serial: r.serial,
    issuerId: r.issuer_id,
    accountId: r.account_id,
    orderId: r.order_id,
    profile: r.profile,
    profileHash: r.profile_hash,
    identifiers: JSON.parse(r.identifiers) as Identifier[],
    notBefore: date(r.not_before),
    notAfter: date(r.not_after),
    renewalStart: date(r.renewal_start),
    renewalEnd: date(r.renewal_end),
    der: unpackDer(r.der, r.der_dictionary),
    chainPem: r.chain_pem,
    spkiSha256: r.spki_sha256,
    crlShard: r.crl_shard,
    issuedAt: date(r.issued_at),
    revokedAt: optionalDate(r.revoked_at),
    revocationReason: r.revocation_reason,
    invalidityDate: optionalDate(r.invalidity_date),
  };
}

export function toCertificateStatus(r: CertificateStatusRow): CertificateStatus {
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
        : { der: unpackDer(r.ocsp_der, r.ocsp_dictionary), thisUpdate: new Date(r.this_update!), nextUpdate: new Date(r.next_update!), revoked: isSet(r.ocsp_revoked) },
  };
}

export interface AuditRow {
  seq: number;
  at: number;
  actor: string;
  action: string;
  subject: string;
  data: string;
  prev_hash: string;
  hash: string;
}

/** An audit record with the exact stored data text beside its parse (the hash chain covers the text). */
export const toAudit = (r: AuditRow): AuditRecord => ({
  seq: r.seq,
  at: new Date(r.at),
  actor: r.actor,
  action: r.action,
  subject: r.subject,
  data: JSON.parse(r.data) as Record<string, unknown>,
  rawData: r.data,
  prevHash: r.prev_hash,
  hash: r.hash,
});

export interface AdminTokenRow {
  id: string;
  role: string;
  name: string;
  created_at: number;
  revoked_at: number | null;
}

export const toAdminToken = (r: AdminTokenRow): AdminToken => ({
  id: r.id,
  role: r.role as AdminRole,
  name: r.name,
  createdAt: new Date(r.created_at),
  revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at),
});

/** A certificate stored before its indexed form (names, renewal links, chain, counters): what the back-fill reads. */
export interface LegacyCertificateRow {
  id: string;
  account_id: string;
  profile: string;
  issuer_id: string;
  identifiers: string;
  issued_at: number;
  not_after: number;
  revoked_at: number | null;
  chain_pem: string;
  replaces: string | null;
  ocsp_this: number | null;
  ocsp_next: number | null;
}
