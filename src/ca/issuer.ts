/**
 * An issuer: a CA certificate with a signer for its key, and the chain a leaf it signs is served with.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, type Name } from '@peculiar/asn1-x509';
import { derToPem, toArrayBuffer } from './certificate-builder.js';
import { keyIdentifierOf } from './extensions.js';
import type { IssuerStatus } from './manifest.js';
import type { Signer } from './signer.js';

export interface Issuer {
  /** Stable id recorded with every certificate this issuer signs. */
  readonly id: string;
  readonly certDer: Uint8Array;
  readonly certPem: string;
  readonly subject: Name;
  /** The issuer's subject key identifier: the AKI of what it signs. */
  readonly keyId: Uint8Array;
  readonly notAfter: Date;
  readonly signer: Signer;
  /** PEM served after a leaf: this issuer's certificate and any further intermediates (not the root). */
  readonly chainPem: string;
  /** Alternate chains after a leaf: the same issuer cross-certified by other roots. */
  readonly alternateChainPems: string[];
  readonly status: IssuerStatus;
}

export function makeIssuer(
  id: string,
  certDer: Uint8Array,
  signer: Signer,
  o: { status?: IssuerStatus; alternateChainPems?: string[]; upperChainPem?: string } = {},
): Issuer {
  const cert = AsnConvert.parse(toArrayBuffer(certDer), Certificate);
  const spki = new Uint8Array(AsnConvert.serialize(cert.tbsCertificate.subjectPublicKeyInfo));
  const certPem = derToPem(certDer);
  return {
    id,
    certDer,
    certPem,
    subject: cert.tbsCertificate.subject,
    keyId: keyIdentifierOf(spki),
    notAfter: cert.tbsCertificate.validity.notAfter.getTime(),
    signer,
    chainPem: certPem + (o.upperChainPem ?? ''),
    alternateChainPems: o.alternateChainPems ?? [],
    status: o.status ?? 'active',
  };
}
