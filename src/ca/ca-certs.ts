/**
 * CA certificates: self-signed roots, intermediates (optionally name-constrained), and
 * cross-certificates (the same intermediate key and subject signed by another root).
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints, type Name, Extension, id_ce_nameConstraints } from '@peculiar/asn1-x509';
import { OctetString } from '@peculiar/asn1-schema';
import { buildCertificate, randomSerial } from './certificate-builder.js';
import { authorityKeyIdentifier, basicConstraints, keyIdentifierOf, keyUsage, subjectKeyIdentifier } from './extensions.js';
import type { Signer } from './signer.js';

const BACKDATE_MS = 3_600_000;

export interface CaSubject {
  name: Name;
  spkiDer: Uint8Array;
}

export interface CaSigner {
  name: Name;
  spkiDer: Uint8Array;
  signer: Signer;
}

export function issueRoot(subject: CaSubject, signer: Signer, validityMs: number, now = Date.now()): Promise<Uint8Array> {
  const keyId = keyIdentifierOf(subject.spkiDer);
  return buildCertificate({
    serial: randomSerial(),
    issuer: subject.name,
    subject: subject.name,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + validityMs),
    spkiDer: subject.spkiDer,
    extensions: [basicConstraints(true), keyUsage(['keyCertSign', 'cRLSign']), subjectKeyIdentifier(keyId)],
    signer,
  });
}

export interface IntermediateOptions {
  validityMs: number;
  /** Permitted DNS subtrees (RFC 5280 §4.2.1.10), e.g. `.internal`; empty = unconstrained. */
  permittedDns?: string[];
  notAfterCap?: Date;
}

export function issueIntermediate(subject: CaSubject, by: CaSigner, o: IntermediateOptions, now = Date.now()): Promise<Uint8Array> {
  let notAfter = new Date(now + o.validityMs);
  if (o.notAfterCap && notAfter > o.notAfterCap) notAfter = o.notAfterCap;
  const extensions = [
    basicConstraints(true, 0),
    keyUsage(['digitalSignature', 'keyCertSign', 'cRLSign']),
    subjectKeyIdentifier(keyIdentifierOf(subject.spkiDer)),
    authorityKeyIdentifier(keyIdentifierOf(by.spkiDer)),
  ];
  if (o.permittedDns && o.permittedDns.length > 0) extensions.push(nameConstraints(o.permittedDns));
  return buildCertificate({
    serial: randomSerial(),
    issuer: by.name,
    subject: subject.name,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter,
    spkiDer: subject.spkiDer,
    extensions,
    signer: by.signer,
  });
}

function nameConstraints(dns: string[]): Extension {
  const permitted = dns.map((d) => new GeneralSubtree({ base: new GeneralName({ dNSName: d.replace(/^\./, '') }) }));
  const value = new NameConstraints({ permittedSubtrees: new GeneralSubtrees(permitted) });
  return new Extension({ extnID: id_ce_nameConstraints, critical: true, extnValue: new OctetString(AsnConvert.serialize(value)) });
}
