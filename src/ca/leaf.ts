/**
 * Builds an end-entity certificate under a profile: SAN-only names (CN optional), key usage and
 * EKU from the profile, AKI/SKI, validity from the profile (or the order's window within it).
 * The TBSCertificate comes from the profile and issuer's template (leaf-template.ts).
 */
import type { Identifier } from '../acme/problem.js';
import type { Profile } from '../profiles/profile.js';
import { wrapSigned } from './certificate-builder.js';
import { leafTemplateFor } from './leaf-template.js';
import type { Issuer } from './issuer.js';
import type { KeyType } from './algorithms.js';

export interface LeafRequest {
  serial: Uint8Array;
  identifiers: Identifier[];
  spkiDer: Uint8Array;
  /** The SubjectPublicKeyInfo's BIT STRING value (the key identifier is its SHA-1). */
  subjectPublicKey: Uint8Array;
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
  const commonName = r.profile.commonName === 'first' && first && first.value.length <= MAX_CN_LENGTH ? first.value : undefined;
  const template = leafTemplateFor(r.profile, r.issuer, r.keyType.startsWith('rsa'), { ocsp: r.ocspUrl, crl: r.crlUrl });
  const tbs = template.tbs({
    serial: r.serial,
    notBefore: r.notBefore,
    notAfter: r.notAfter,
    commonName,
    spkiDer: r.spkiDer,
    subjectPublicKey: r.subjectPublicKey,
    identifiers: r.identifiers,
  });
  return wrapSigned(tbs, r.issuer.signer.scheme, await r.issuer.signer.sign(tbs));
}
