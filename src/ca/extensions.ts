/**
 * X.509 v3 extensions (RFC 5280 §4.2) as @peculiar/asn1-x509 structures, one small constructor
 * per extension the CA writes.
 */
import { createHash } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  ExtendedKeyUsage,
  Extension,
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import type { Identifier } from '../acme/problem.js';

/** Extended key usage names used in profiles, with their OIDs (RFC 5280 §4.2.1.12). */
export const EKU_OIDS = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
} as const;
export type EkuName = keyof typeof EKU_OIDS;

export const KEY_USAGE_FLAGS = {
  digitalSignature: KeyUsageFlags.digitalSignature,
  nonRepudiation: KeyUsageFlags.nonRepudiation,
  keyEncipherment: KeyUsageFlags.keyEncipherment,
  dataEncipherment: KeyUsageFlags.dataEncipherment,
  keyAgreement: KeyUsageFlags.keyAgreement,
  keyCertSign: KeyUsageFlags.keyCertSign,
  cRLSign: KeyUsageFlags.cRLSign,
} as const;
export type KeyUsageName = keyof typeof KEY_USAGE_FLAGS;

function extension(oid: string, critical: boolean, value: object): Extension {
  return new Extension({ extnID: oid, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

export function basicConstraints(ca: boolean, pathLength?: number): Extension {
  const value = new BasicConstraints({ cA: ca });
  if (ca && pathLength !== undefined) value.pathLenConstraint = pathLength;
  return extension(id_ce_basicConstraints, true, value);
}

export function keyUsage(usages: KeyUsageName[]): Extension {
  const flags = usages.reduce((acc, u) => acc | KEY_USAGE_FLAGS[u], 0);
  return extension(id_ce_keyUsage, true, new KeyUsage(flags));
}

export function extendedKeyUsage(usages: EkuName[]): Extension {
  return extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage(usages.map((u) => EKU_OIDS[u])));
}

/** SAN with dNSName and iPAddress entries; critical when the subject is empty (RFC 5280 §4.2.1.6). */
export function subjectAltName(identifiers: Identifier[], critical: boolean): Extension {
  const names = identifiers.map((i) =>
    i.type === 'ip' ? new GeneralName({ iPAddress: i.value }) : new GeneralName({ dNSName: i.value }),
  );
  return extension(id_ce_subjectAltName, critical, new SubjectAlternativeName(names));
}

export function subjectKeyIdentifier(keyId: Uint8Array): Extension {
  return extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyId));
}

export function authorityKeyIdentifier(keyId: Uint8Array): Extension {
  return extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyId) }));
}

/** Key identifier by RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value. */
export function keyIdentifierOf(spkiDer: Uint8Array): Uint8Array {
  const spki = AsnConvert.parse(spkiDer, SubjectPublicKeyInfo);
  return createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest();
}
