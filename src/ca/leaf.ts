/**
 * Builds an end-entity certificate under a profile: SAN-only names (CN optional), key usage and
 * EKU from the profile, AKI/SKI, validity from the profile (or the order's window within it).
 */
import type { Identifier } from '../acme/problem.js';
import type { Profile } from '../profiles/profile.js';
import { buildCertificate, nameOf } from './certificate-builder.js';
import {
  authorityInfoAccessOcsp,
  authorityKeyIdentifier,
  crlDistributionPoint,
  basicConstraints,
  extendedKeyUsage,
  keyIdentifierOf,
  keyUsage,
  subjectAltName,
  subjectKeyIdentifier,
  type KeyUsageName,
} from './extensions.js';
import type { Issuer } from './issuer.js';
import type { KeyType } from './algorithms.js';

export interface LeafRequest {
  serial: Uint8Array;
  identifiers: Identifier[];
  spkiDer: Uint8Array;
  keyType: KeyType;
  notBefore: Date;
  notAfter: Date;
  profile: Profile;
  issuer: Issuer;
  /** Written only when the profile asks for revocation pointers. */
  ocspUrl: string;
  crlUrl: string;
}

const MAX_CN_LENGTH = 64; // RFC 5280 ub-common-name

export async function buildLeaf(r: LeafRequest): Promise<Uint8Array> {
  const first = r.identifiers[0];
  const cn = r.profile.commonName === 'first' && first && first.value.length <= MAX_CN_LENGTH ? first.value : undefined;
  const usages: KeyUsageName[] = [...r.profile.keyUsage];
  if (r.keyType.startsWith('rsa') && r.profile.rsaKeyEncipherment && !usages.includes('keyEncipherment')) usages.push('keyEncipherment');
  const extensions = [
    basicConstraints(false),
    keyUsage(usages),
    ...(r.profile.extendedKeyUsage.length > 0 ? [extendedKeyUsage(r.profile.extendedKeyUsage)] : []),
    subjectKeyIdentifier(keyIdentifierOf(r.spkiDer)),
    authorityKeyIdentifier(r.issuer.keyId),
    ...(r.profile.revocationInfo.ocsp ? [authorityInfoAccessOcsp(r.ocspUrl)] : []),
    ...(r.profile.revocationInfo.crl ? [crlDistributionPoint(r.crlUrl)] : []),
    subjectAltName(r.identifiers, cn === undefined),
  ];
  return buildCertificate({
    serial: r.serial,
    issuer: r.issuer.subject,
    subject: nameOf(cn === undefined ? [] : [['CN', cn]]),
    notBefore: r.notBefore,
    notAfter: r.notAfter,
    spkiDer: r.spkiDer,
    extensions,
    signer: r.issuer.signer,
  });
}
