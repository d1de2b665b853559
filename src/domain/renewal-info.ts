/**
 * ACME Renewal Information (RFC 9773): the suggested renewal window of a certificate, and the
 * checks on newOrder's `replaces`. The window comes from the certificate's profile at issuance;
 * it moves to "now" (entirely in the past, §4.2) when the certificate is revoked, when its issuer
 * is retiring, or when an operator triggered a fleet renewal for its profile or issuer; once a
 * replacement has been issued, it moves to the end of the certificate's life.
 */
import { problems, type Identifier } from '../acme/problem.js';
import type { Issuer } from '../ca/issuer.js';
import type { Store } from '../store/store.js';
import type { AccountRecord, CertificateRecord } from '../store/types.js';

export interface CertIdParts {
  keyIdentifier: Buffer;
  serial: string;
}

export interface RenewalWindow {
  start: Date;
  end: Date;
  retryAfterSeconds: number;
}

const B64URL = /^[A-Za-z0-9_-]+$/;
const MIN_RETRY_S = 60;
const MAX_RETRY_S = 6 * 3600;

/** Parses `base64url(AKI keyIdentifier) "." base64url(serial)` (RFC 9773 §4.1); malformed otherwise. */
export function parseCertId(text: string): CertIdParts {
  const parts = text.split('.');
  if (parts.length !== 2 || !parts.every((p) => B64URL.test(p))) {
    throw problems.malformed('certificate identifier must be base64url(keyIdentifier) "." base64url(serial), without padding');
  }
  const keyIdentifier = Buffer.from(parts[0]!, 'base64url');
  const serial = Buffer.from(parts[1]!, 'base64url');
  if (keyIdentifier.length === 0 || serial.length === 0 || serial.length > 21) {
    throw problems.malformed('certificate identifier has an empty key identifier or an invalid serial');
  }
  if (serial[0]! & 0x80) throw problems.malformed('certificate identifier serial is negative; it must be the DER INTEGER content');
  return { keyIdentifier, serial: serial.toString('hex') };
}

export interface RenewalInfoDependencies {
  store: Store;
  issuers(): Issuer[];
  isIssuerRetiring(issuerId: string): boolean;
}

export class RenewalInfoService {
  constructor(private readonly deps: RenewalInfoDependencies) {}

  /** The certificate a CertID names (null if none); a malformed CertID is a problem. */
  private async lookup(certId: string): Promise<CertificateRecord | null> {
    const { keyIdentifier, serial } = parseCertId(certId);
    const issuer = this.deps.issuers().find((i) => Buffer.from(i.keyId).equals(keyIdentifier));
    const cert = issuer ? await this.deps.store.findCertificateBySerial(serial) : null;
    return cert && cert.issuerId === issuer!.id ? cert : null;
  }

  async window(certId: string, now = Date.now()): Promise<RenewalWindow> {
    const cert = await this.lookup(certId);
    if (!cert) throw problems.notFound('certificate');
    const lifetime = cert.notAfter.getTime() - cert.notBefore.getTime();
    const retryAfterSeconds = Math.min(MAX_RETRY_S, Math.max(MIN_RETRY_S, Math.round(lifetime / 8 / 1000)));
    if (await this.mustRenewNow(cert)) {
      return { start: new Date(now - 3_600_000), end: new Date(now - 60_000), retryAfterSeconds };
    }
    if (await this.deps.store.findReplacingOrder(cert.id, true)) {
      return { start: new Date(cert.notAfter.getTime() - 60_000), end: cert.notAfter, retryAfterSeconds: MAX_RETRY_S };
    }
    return { start: cert.renewalStart, end: cert.renewalEnd, retryAfterSeconds };
  }

  /**
   * Checks newOrder's `replaces` (RFC 9773 §5): a certificate this CA issued to this account,
   * sharing an identifier with the new order, not already replaced by an issued order.
   */
  async checkReplaces(account: AccountRecord, identifiers: Identifier[], replaces: unknown): Promise<{ certificateId: string; certId: string }> {
    if (typeof replaces !== 'string') throw problems.malformed('"replaces" must be a certificate identifier string');
    const cert = await this.lookup(replaces);
    if (!cert) throw problems.malformed('"replaces" names no certificate issued by this CA');
    if (cert.accountId !== account.id) throw problems.unauthorized('"replaces" names a certificate issued to another account');
    const wanted = new Set(identifiers.map((i) => `${i.type}:${i.value}`));
    if (!cert.identifiers.some((i) => wanted.has(`${i.type}:${i.value}`))) {
      throw problems.malformed('"replaces" names a certificate that shares no identifier with this order');
    }
    // RFC 9773 §5: refused once another order that is not invalid replaces it.
    if (await this.deps.store.findReplacingOrder(cert.id, false)) {
      throw problems.alreadyReplaced(`certificate ${cert.serial} is already being replaced by another order`);
    }
    return { certificateId: cert.id, certId: replaces };
  }

  private async mustRenewNow(cert: CertificateRecord): Promise<boolean> {
    if (cert.revokedAt) return true;
    if (this.deps.isIssuerRetiring(cert.issuerId)) return true;
    const triggers = await this.deps.store.listRenewalTriggers();
    return triggers.some(
      (t) => t.at > cert.issuedAt && ((t.scope === 'profile' && t.name === cert.profile) || (t.scope === 'issuer' && t.name === cert.issuerId)),
    );
  }
}
