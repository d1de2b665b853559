/**
 * X.509 v3 extensions (RFC 5280 §4.2) as @peculiar/asn1-x509 structures, one small constructor
 * per extension the CA writes.
 */
import { createHash } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AccessDescription,
  AuthorityInfoAccessSyntax,
  CRLDistributionPoints,
  CRLNumber,
  CRLReason,
  DistributionPoint,
  DistributionPointName,
  InvalidityDate,
  IssuingDistributionPoint,
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
  id_ce_cRLDistributionPoints,
  id_ce_cRLNumber,
  id_ce_cRLReasons,
  id_ce_invalidityDate,
  id_ce_issuingDistributionPoint,
  id_pe_authorityInfoAccess,
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

const ID_AD_OCSP = '1.3.6.1.5.5.7.48.1';
const ID_PKIX_OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5';
const DER_NULL = new Uint8Array([0x05, 0x00]);

/** Authority Information Access with the OCSP responder URL (RFC 5280 §4.2.2.1). */
export function authorityInfoAccessOcsp(url: string): Extension {
  const access = new AccessDescription({ accessMethod: ID_AD_OCSP, accessLocation: new GeneralName({ uniformResourceIdentifier: url }) });
  return extension(id_pe_authorityInfoAccess, false, new AuthorityInfoAccessSyntax([access]));
}

/** CRL Distribution Points naming one CRL URL (RFC 5280 §4.2.1.13). */
export function crlDistributionPoint(url: string): Extension {
  const point = new DistributionPoint({
    distributionPoint: new DistributionPointName({ fullName: [new GeneralName({ uniformResourceIdentifier: url })] }),
  });
  return extension(id_ce_cRLDistributionPoints, false, new CRLDistributionPoints([point]));
}

/** id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): relying parties need not check the responder's own status. */
export function ocspNoCheck(): Extension {
  return new Extension({ extnID: ID_PKIX_OCSP_NOCHECK, critical: false, extnValue: new OctetString(DER_NULL) });
}

/** CRL number (RFC 5280 §5.2.3). */
export function crlNumber(n: number): Extension {
  return extension(id_ce_cRLNumber, false, new CRLNumber(n));
}

/**
 * Issuing Distribution Point (RFC 5280 §5.2.5), critical: the CRL covers only end-entity
 * certificates whose CDP is this URL, which is what makes a sharded CRL complete for its scope.
 */
export function issuingDistributionPoint(url: string): Extension {
  const idp = new IssuingDistributionPoint({
    distributionPoint: new DistributionPointName({ fullName: [new GeneralName({ uniformResourceIdentifier: url })] }),
    onlyContainsUserCerts: true,
  });
  return extension(id_ce_issuingDistributionPoint, true, idp);
}

/** CRL entry reason code (RFC 5280 §5.3.1). */
export function crlReason(code: number): Extension {
  return extension(id_ce_cRLReasons, false, new CRLReason(code));
}

/** CRL entry invalidity date (RFC 5280 §5.3.2). */
export function invalidityDate(date: Date): Extension {
  return extension(id_ce_invalidityDate, false, new InvalidityDate(date));
}

/** Key identifier by RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value. */
export function keyIdentifierOf(spkiDer: Uint8Array): Uint8Array {
  const spki = AsnConvert.parse(spkiDer, SubjectPublicKeyInfo);
  return createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest();
}
