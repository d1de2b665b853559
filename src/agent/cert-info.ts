/**
 * What the agent needs to know about a certificate: validity, the RFC 9773 §4.1 CertID
 * (base64url of the AKI keyIdentifier "." base64url of the serial's DER content), whether a key
 * matches it, and whether its chain leads to a root in a bundle.
 */
import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AuthorityKeyIdentifier, Certificate, id_ce_authorityKeyIdentifier } from '@peculiar/asn1-x509';

/** The certificates of a PEM text, each as its own PEM block. */
export function splitPem(pem: string): string[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((b) => `${b}\n`);
}

/** Facts about a leaf certificate. */
export interface LeafInfo {
  serial: string;
  notBefore: number;
  notAfter: number;
  /** RFC 9773 CertID, or undefined when the certificate has no AKI keyIdentifier. */
  certId: string | undefined;
}

/** Reads validity, serial and CertID from a leaf PEM. */
export function leafInfo(pem: string): LeafInfo {
  const x = new X509Certificate(pem);
  const cert = AsnConvert.parse(x.raw, Certificate);
  const aki = cert.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_authorityKeyIdentifier);
  let certId: string | undefined;
  if (aki) {
    const parsed = AsnConvert.parse(aki.extnValue.buffer, AuthorityKeyIdentifier);
    if (parsed.keyIdentifier) {
      certId = `${Buffer.from(parsed.keyIdentifier.buffer).toString('base64url')}.${Buffer.from(cert.tbsCertificate.serialNumber).toString('base64url')}`;
    }
  }
  return { serial: x.serialNumber.toUpperCase(), notBefore: Date.parse(x.validFrom), notAfter: Date.parse(x.validTo), certId };
}

/** True when the private key (PEM) is the key of the certificate. */
export function keyMatches(keyPem: string | KeyObject, certPem: string): boolean {
  const pub = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  return Buffer.from(new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' })).equals(pub);
}

/** True when the chain (leaf first) links up to one of the roots in `bundlePem` by signature. */
export function chainsToBundle(chainPem: string, bundlePem: string): boolean {
  const chain = splitPem(chainPem).map((p) => new X509Certificate(p));
  const roots = splitPem(bundlePem).map((p) => new X509Certificate(p));
  if (chain.length === 0 || roots.length === 0) return false;
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i]!.checkIssued(chain[i + 1]!) || !chain[i]!.verify(chain[i + 1]!.publicKey)) return false;
  }
  const top = chain[chain.length - 1]!;
  return roots.some((r) => (top.fingerprint256 === r.fingerprint256) || (top.checkIssued(r) && top.verify(r.publicKey)));
}
