/**
 * Records as the store keeps them. Statuses follow RFC 8555 §7.1.6; the domain layer derives
 * what is not stored (an order is `ready` when all its authorizations are valid, an
 * authorization is `expired` once its expiry has passed).
 */
import type { Identifier, ProblemDocument } from '../acme/problem.js';

export type AccountStatus = 'valid' | 'deactivated' | 'revoked';
/** Stored order status; `ready` and `invalid` (by authorization) are derived, see domain/orders. */
export type StoredOrderStatus = 'pending' | 'processing' | 'valid' | 'invalid';
export type AuthzStatus = 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';
export type ChallengeStatus = 'pending' | 'processing' | 'valid' | 'invalid';

export interface AccountRecord {
  id: string;
  status: AccountStatus;
  /** The account public key as a JWK (public members only). */
  jwk: JsonWebKeyPublic;
  /** RFC 7638 thumbprint (SHA-256, base64url) of `jwk`; unique across accounts. */
  thumbprint: string;
  contact: string[];
  termsOfServiceAgreed: boolean;
  /** The External Account Binding key id the account was created with (RFC 8555 §7.3.4), if any. */
  externalAccountId: string | null;
  createdAt: Date;
}

/** A public JWK as accepted on the wire (kty plus the public parameters). */
export type JsonWebKeyPublic = { kty: string; [member: string]: unknown };

export interface NewAccount {
  jwk: JsonWebKeyPublic;
  thumbprint: string;
  contact: string[];
  termsOfServiceAgreed: boolean;
  externalAccountId?: string | null;
  /** The client address of the newAccount request, for per-address rate limits. */
  createdFromIp?: string | null;
}

export interface ChallengeRecord {
  id: string;
  authzId: string;
  type: string;
  token: string;
  status: ChallengeStatus;
  validatedAt: Date | null;
  error: ProblemDocument | null;
  /** What the validator did (addresses, URLs, time); opaque JSON. */
  validationRecord: unknown[] | null;
}

export interface AuthzRecord {
  id: string;
  accountId: string;
  identifier: Identifier;
  wildcard: boolean;
  /** Stored status; `expired` is derived from `expiresAt`. */
  status: Exclude<AuthzStatus, 'expired'>;
  expiresAt: Date;
  createdAt: Date;
  challenges: ChallengeRecord[];
}

export interface NewChallenge {
  type: string;
  token: string;
}

export interface NewAuthz {
  identifier: Identifier;
  wildcard: boolean;
  expiresAt: Date;
  /** Authorizations may start valid (RFC 8555 §7.1.4), e.g. for pre-authorized accounts. */
  status: 'pending' | 'valid';
  challenges: NewChallenge[];
}

/** An order's authorization, as far as order status derivation needs it. */
export interface OrderAuthzSummary {
  id: string;
  status: Exclude<AuthzStatus, 'expired'>;
  expiresAt: Date;
}

export interface OrderRecord {
  id: string;
  accountId: string;
  status: StoredOrderStatus;
  identifiers: Identifier[];
  profile: string;
  notBefore: Date | null;
  notAfter: Date | null;
  expiresAt: Date;
  createdAt: Date;
  error: ProblemDocument | null;
  certificateId: string | null;
  /** ARI (RFC 9773 §5): the certificate this order replaces, by store id... */
  replaces: string | null;
  /** ...and as the client named it (the CertID), reflected in the order object. */
  replacesCertId: string | null;
  authorizations: OrderAuthzSummary[];
}

export interface NewOrder {
  accountId: string;
  identifiers: Identifier[];
  profile: string;
  notBefore: Date | null;
  notAfter: Date | null;
  expiresAt: Date;
  replaces: { certificateId: string; certId: string } | null;
  /** Valid authorizations of this account reused by the order. */
  reusedAuthzIds: string[];
  /** Authorizations created with the order. */
  newAuthzs: NewAuthz[];
}

export interface NewCertificate {
  /** Lowercase hex without leading zeros stripped: exactly the DER INTEGER content bytes. */
  serial: string;
  issuerId: string;
  accountId: string;
  orderId: string;
  profile: string;
  /** SHA-256 of the profile file the certificate was issued under. */
  profileHash: string;
  identifiers: Identifier[];
  notBefore: Date;
  notAfter: Date;
  /** The ARI suggested window computed at issuance from the profile. */
  renewalStart: Date;
  renewalEnd: Date;
  /** DER of the leaf. */
  der: Uint8Array;
  /** PEM of the chain after the leaf (intermediates), as issued. */
  chainPem: string;
  /** SHA-256 of the leaf's SubjectPublicKeyInfo, hex. */
  spkiSha256: string;
  /** The CRL shard the certificate's CRL Distribution Point names. */
  crlShard: number;
  /**
   * Its first OCSP answer (`good`), signed before the certificate is recorded and stored in the
   * same transaction. Without it the certificate is queued for the OCSP refresher instead.
   */
  ocsp?: SignedOcspResponse;
}

export interface CertificateRecord extends Omit<NewCertificate, 'ocsp'> {
  id: string;
  issuedAt: Date;
  revokedAt: Date | null;
  revocationReason: number | null;
  invalidityDate: Date | null;
}

export interface ValidationResult {
  status: 'valid' | 'invalid';
  error: ProblemDocument | null;
  validationRecord: unknown[];
  /** How long a successful authorization stays valid. */
  authzExpiresAt: Date;
}

/** A signed OCSP response kept for a certificate (RFC 6960 BasicOCSPResponse inside OCSPResponse). */
export interface SignedOcspResponse {
  der: Uint8Array;
  thisUpdate: Date;
  nextUpdate: Date;
  /** When the answer should be signed again; null or absent when it lasts as long as the certificate. */
  refreshAt?: Date | null;
}

/** What the OCSP responder needs to answer for one serial. */
export interface CertificateStatus {
  id: string;
  serial: string;
  issuerId: string;
  notAfter: Date;
  revokedAt: Date | null;
  revocationReason: number | null;
  /** The pre-signed response, if any; `revoked` says which state it was signed for. */
  ocsp: (SignedOcspResponse & { revoked: boolean }) | null;
}

export interface Revocation {
  reason: number;
  at: Date;
  invalidityDate: Date | null;
  /** The OCSP response for the revoked state, stored in the same transaction. */
  ocsp: SignedOcspResponse | null;
  /** keyCompromise: refuse this public key (SHA-256 of the SPKI) from now on. */
  blockKey: boolean;
  /** Who revoked, for the audit log: `account:<id>`, `certificate-key`, `operator:<name>`. */
  actor: string;
  /** The DER of the certificate's CRL entry (RevokedCertificate), stored with the revocation. */
  crlEntry: Uint8Array;
}

/** A revoked certificate as a CRL lists it. */
export interface RevokedEntry {
  serial: string;
  revokedAt: Date;
  reason: number;
  invalidityDate: Date | null;
}

/** The entries of one CRL: how many, and their DER (RevokedCertificate) concatenated in CRL order. */
export interface CrlEntryList {
  count: number;
  der: Uint8Array;
}

/** The full CRL of an issuer is kept as shard -1. */
export const FULL_CRL = -1;

export interface StoredCrl {
  issuerId: string;
  shard: number;
  number: number;
  thisUpdate: Date;
  nextUpdate: Date;
  der: Uint8Array;
}

/** An operator's fleet-wide renewal signal: certificates issued before `at` should renew now. */
export interface RenewalTrigger {
  scope: 'profile' | 'issuer';
  name: string;
  at: Date;
}

/** What an External Account Binding credential lets its accounts do (RFC 8555 §7.3.4 + Anvil policy). */
export interface EabPolicy {
  /** DNS names must end with one of these; empty with empty ipRanges = no name restriction. */
  dnsSuffixes: string[];
  ipRanges: string[];
  /** Profiles the accounts may use; empty = any. */
  profiles: string[];
  /** Authorizations for names inside the policy start valid, without a challenge. */
  preauthorize: boolean;
}

export interface EabCredential {
  kid: string;
  /** The HMAC key sealed with the key passphrase (ca/secret-box). */
  hmacKeySealed: Uint8Array;
  policy: EabPolicy;
  note: string;
  createdAt: Date;
  revokedAt: Date | null;
}

/** One audit record to append (the store adds time, sequence and the hash chain). */
export interface AuditEvent {
  /** Who did it: `account:<id>`, `operator:<name>`, `admin:<token name>`, `system`. */
  actor: string;
  /** What happened, e.g. `certificate.issued`, `account.deactivated`, `issuer.rotated`. */
  action: string;
  /** What it happened to: an account, order, certificate serial, issuer id... */
  subject: string;
  data?: Record<string, unknown>;
}

export interface AuditRecord extends Required<AuditEvent> {
  seq: number;
  at: Date;
  /** `data` exactly as stored and hashed. */
  rawData: string;
  prevHash: string;
  hash: string;
}

export type AdminRole = 'auditor' | 'operator' | 'ca-admin';

export interface AdminToken {
  id: string;
  role: AdminRole;
  name: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface CertificateQuery {
  name?: string;
  serial?: string;
  accountId?: string;
  profile?: string;
  issuerId?: string;
  expiresBefore?: Date;
  expiresAfter?: Date;
  revoked?: boolean;
  limit?: number;
}
