/**
 * revokeCert (RFC 8555 §7.6): authorised by the account that owns the certificate, by an account
 * holding valid authorizations for every identifier in it, or by the certificate's own key.
 */
import { createHash, createPublicKey, type JsonWebKey } from 'node:crypto';
import { problems } from '../acme/problem.js';
import { parseWholeDer } from '../ca/der.js';
import { checkPayload } from '../acme/payloads.js';
import { Certificate } from '@peculiar/asn1-x509';
import type { VerifiedRequest } from '../acme/jws.js';
import { metrics } from '../ops/metrics.js';
import type { Store } from '../store/store.js';
import type { CertificateRecord, RevokedEntry, SignedOcspResponse } from '../store/types.js';

/**
 * CRLReason codes a subscriber may give (RFC 5280 §5.3.1). Refused: cACompromise (2) and
 * aACompromise (10), which only the CA asserts; certificateHold (6) and removeFromCRL (8),
 * because this CA does not suspend certificates; 7 is unassigned.
 */
const KEY_COMPROMISE = 1;

export const SUBSCRIBER_REASONS: ReadonlyMap<number, string> = new Map([
  [0, 'unspecified'],
  [1, 'keyCompromise'],
  [3, 'affiliationChanged'],
  [4, 'superseded'],
  [5, 'cessationOfOperation'],
  [9, 'privilegeWithdrawn'],
]);

/**
 * A subscriber reason given by name (`keyCompromise`, case-insensitive) or by code (`1`, as a
 * number or, from a command line, a string of digits); undefined when it is neither or refused.
 */
export function parseSubscriberReason(value: unknown): number | undefined {
  let code: number | undefined;
  if (typeof value === 'number' && Number.isInteger(value)) code = value;
  else if (typeof value === 'string' && /^\d{1,2}$/.test(value)) code = Number(value);
  else if (typeof value === 'string') {
    const wanted = value.toLowerCase();
    for (const [c, name] of SUBSCRIBER_REASONS) if (name.toLowerCase() === wanted) code = c;
  }
  return code !== undefined && SUBSCRIBER_REASONS.has(code) ? code : undefined;
}

/** `name (code)` for every subscriber reason, for messages. */
export function subscriberReasonList(): string {
  return [...SUBSCRIBER_REASONS].map(([c, n]) => `${n} (${c})`).join(', ');
}

/** What a revocation needs besides the store: the revoked OCSP answer, and a CRL nudge. */
export interface RevocationHooks {
  signRevokedOcsp(cert: CertificateRecord, at: Date, reason: number): Promise<SignedOcspResponse | null>;
  /** The DER of the certificate's CRL entry, stored with the revocation. */
  crlEntry(entry: RevokedEntry): Uint8Array;
  revoked(cert: CertificateRecord): void;
}

export class RevocationService {
  constructor(
    private readonly store: Store,
    private readonly hooks: RevocationHooks,
  ) {}

  async revoke(request: VerifiedRequest): Promise<CertificateRecord> {
    const { certificate, reason } = checkPayload('revokeCert', request.payload);
    if (typeof certificate !== 'string' || !/^[A-Za-z0-9_-]+$/.test(certificate)) {
      throw problems.malformed('"certificate" must be the base64url DER of the certificate');
    }
    const code = reason === undefined ? 0 : reason;
    if (typeof code !== 'number' || !Number.isInteger(code) || !SUBSCRIBER_REASONS.has(code)) {
      throw problems.badRevocationReason(
        `revocation reason ${JSON.stringify(reason)} is not accepted; use one of ${[...SUBSCRIBER_REASONS].map(([c, n]) => `${c} (${n})`).join(', ')}`,
      );
    }
    const der = new Uint8Array(Buffer.from(certificate, 'base64url'));
    const serial = serialOf(der);
    const record = serial ? await this.store.findCertificateBySerial(serial) : null;
    if (!record || !Buffer.from(record.der).equals(Buffer.from(der))) throw problems.notFound('certificate issued by this CA');

    await this.authorize(request, record);
    return this.apply(record, code, null, request.account ? `account:${request.account.id}` : 'certificate-key');
  }

  /**
   * Revokes a certificate with a reason (and, for operators, an invalidity date): the revoked
   * OCSP answer, the key block for keyCompromise and the CRL marks commit with the revocation.
   */
  async apply(record: CertificateRecord, reason: number, invalidity: Date | null, actor: string): Promise<CertificateRecord> {
    if (record.revokedAt) throw problems.alreadyRevoked(`certificate ${record.serial} is already revoked`);
    const at = new Date(Math.floor(Date.now() / 1000) * 1000);
    const ocsp = await this.hooks.signRevokedOcsp(record, at, reason);
    const crlEntry = this.hooks.crlEntry({ serial: record.serial, revokedAt: at, reason, invalidityDate: invalidity });
    const done = await this.store.revokeCertificate(record.id, { reason, at, invalidityDate: invalidity, ocsp, blockKey: reason === KEY_COMPROMISE, actor, crlEntry });
    if (!done) throw problems.alreadyRevoked(`certificate ${record.serial} is already revoked`);
    const revoked = (await this.store.getCertificate(record.id))!;
    metrics.certificatesRevoked.inc({ reason: String(reason) });
    this.hooks.revoked(revoked);
    return revoked;
  }

  private async authorize(request: VerifiedRequest, cert: CertificateRecord): Promise<void> {
    if (request.jwk) {
      const spki = createHash('sha256').update(spkiOfJwk(request.jwk)).digest('hex');
      if (spki !== cert.spkiSha256) throw problems.unauthorized('the request is not signed by the certificate\'s key');
      return;
    }
    const account = request.account!;
    if (account.id === cert.accountId) return;
    const wanted = cert.identifiers.map((i) => ({ type: i.type, value: i.value.replace(/^\*\./, '') }));
    const held = await this.store.findAuthorizedIdentifiers(account.id, wanted, new Date());
    if (held.length !== wanted.length) {
      throw problems.unauthorized('the account neither owns this certificate nor holds valid authorizations for all its identifiers');
    }
  }
}

/** The serial (lowercase hex of the INTEGER content) of a DER certificate, or undefined. */
function serialOf(der: Uint8Array): string | undefined {
  try {
    const cert = parseWholeDer(der, Certificate);
    return Buffer.from(cert.tbsCertificate.serialNumber).toString('hex');
  } catch (e) {
    throw problems.malformed(`"certificate" is not a DER X.509 certificate (${(e as Error).message})`);
  }
}

function spkiOfJwk(jwk: VerifiedRequest['jwk']): Buffer {
  return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'der' });
}
