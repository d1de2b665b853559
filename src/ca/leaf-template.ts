/**
 * A leaf TBSCertificate encoded once per profile, issuer and revocation URLs. Most of a leaf is
 * the same for every certificate those share: version, signature algorithm, issuer name and the
 * constant extensions. They are encoded once, through the schema encoder (so their bytes are
 * exactly what the schema writes); each certificate then only writes its serial, validity,
 * subject, key and names around them.
 */
import { createHash } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import type { Extension } from '@peculiar/asn1-x509';
import type { Identifier } from '../acme/problem.js';
import type { Profile } from '../profiles/profile.js';
import {
  contextConstructed,
  contextPrimitive,
  extensionDer,
  integerFromContent,
  objectIdentifier,
  octetString,
  sequence,
  tlv,
  TAG,
  utf8String,
  x509Time,
} from './der-writer.js';
import {
  authorityInfoAccessOcsp,
  authorityKeyIdentifier,
  basicConstraints,
  crlDistributionPoint,
  extendedKeyUsage,
  keyUsage,
  subjectAltName,
  type KeyUsageName,
} from './extensions.js';
import type { Issuer } from './issuer.js';

/** What changes from one leaf to the next. */
export interface LeafFields {
  /** Serial as the DER INTEGER's content bytes (positive, minimal). */
  serial: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** The subject's CN, or undefined for an empty subject (then the SAN is critical). */
  commonName: string | undefined;
  spkiDer: Uint8Array;
  /** The SubjectPublicKeyInfo's BIT STRING value, for the key identifier (RFC 5280 §4.2.1.2 (1)). */
  subjectPublicKey: Uint8Array;
  identifiers: Identifier[];
}

const VERSION_V3 = Uint8Array.of(0xa0, 0x03, 0x02, 0x01, 0x02);
const OID_SKI = objectIdentifier('2.5.29.14');
const OID_SAN = objectIdentifier('2.5.29.17');
const OID_CN = objectIdentifier('2.5.4.3');
const EMPTY_NAME = Uint8Array.of(TAG.sequence, 0);
const latin1 = (text: string): Uint8Array => Buffer.from(text, 'latin1');

export class LeafTemplate {
  private readonly signatureAndIssuer: [Uint8Array, Uint8Array];
  private readonly beforeKeyId: Uint8Array[];
  private readonly afterKeyId: Uint8Array[];

  constructor(profile: Profile, issuer: Issuer, rsaKey: boolean, urls: { ocsp: string; crl: string }) {
    const usages: KeyUsageName[] = [...profile.keyUsage];
    if (rsaKey && profile.rsaKeyEncipherment && !usages.includes('keyEncipherment')) usages.push('keyEncipherment');
    const der = (e: Extension): Uint8Array => new Uint8Array(AsnConvert.serialize(e));
    this.signatureAndIssuer = [issuer.signer.scheme.identifierDer, new Uint8Array(AsnConvert.serialize(issuer.subject))];
    this.beforeKeyId = [
      der(basicConstraints(false)),
      der(keyUsage(usages)),
      ...(profile.extendedKeyUsage.length > 0 ? [der(extendedKeyUsage(profile.extendedKeyUsage))] : []),
    ];
    this.afterKeyId = [
      der(authorityKeyIdentifier(issuer.keyId)),
      ...(profile.revocationInfo.ocsp ? [der(authorityInfoAccessOcsp(urls.ocsp))] : []),
      ...(profile.revocationInfo.crl ? [der(crlDistributionPoint(urls.crl))] : []),
    ];
  }

  /** The TBSCertificate DER for these fields (extension order as RFC 5280 lists them, SAN last). */
  tbs(f: LeafFields): Uint8Array {
    const keyId = createHash('sha1').update(f.subjectPublicKey).digest();
    const extensions = sequence(
      ...this.beforeKeyId,
      extensionDer(OID_SKI, false, octetString(keyId)),
      ...this.afterKeyId,
      subjectAltNameDer(f.identifiers, f.commonName === undefined),
    );
    return sequence(
      VERSION_V3,
      integerFromContent(f.serial),
      ...this.signatureAndIssuer,
      sequence(x509Time(f.notBefore), x509Time(f.notAfter)),
      f.commonName === undefined ? EMPTY_NAME : sequence(tlv(TAG.set, sequence(OID_CN, utf8String(f.commonName)))),
      f.spkiDer,
      tlv(contextConstructed(3), extensions),
    );
  }
}

/**
 * GeneralNames of dNSName entries ([2] IA5String); names are LDH ASCII by the time they get
 * here. IP addresses go through the schema encoder, which owns their octet form.
 */
function subjectAltNameDer(identifiers: Identifier[], critical: boolean): Uint8Array {
  if (identifiers.some((i) => i.type !== 'dns')) return new Uint8Array(AsnConvert.serialize(subjectAltName(identifiers, critical)));
  const names = identifiers.map((i) => tlv(contextPrimitive(2), latin1(i.value)));
  return extensionDer(OID_SAN, critical, sequence(...names));
}

// Keyed by the issuer and profile objects themselves: a rotation or a profile reload makes new
// ones, and the old templates go with them. Per pair, one template per key family and URL pair.
const templates = new WeakMap<Issuer, WeakMap<Profile, Map<string, LeafTemplate>>>();

/** The template for leaves of this profile and issuer with these revocation URLs. */
export function leafTemplateFor(profile: Profile, issuer: Issuer, rsaKey: boolean, urls: { ocsp: string; crl: string }): LeafTemplate {
  let byProfile = templates.get(issuer);
  if (!byProfile) templates.set(issuer, (byProfile = new WeakMap()));
  let byUrls = byProfile.get(profile);
  if (!byUrls) byProfile.set(profile, (byUrls = new Map()));
  const key = `${rsaKey}\0${urls.ocsp}\0${urls.crl}`;
  let t = byUrls.get(key);
  if (!t) byUrls.set(key, (t = new LeafTemplate(profile, issuer, rsaKey, urls)));
  return t;
}
