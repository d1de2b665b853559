/**
 * Builds and signs an X.509 v3 certificate from its parts. The TBSCertificate is encoded once,
 * signed through the Signer (so the key may live anywhere), and wrapped.
 */
import { randomBytes } from 'node:crypto';
import { AsnConvert, AsnSerializer } from '@peculiar/asn1-schema';
import {
  AttributeTypeAndValue,
  AttributeValue,
  Extensions,
  Name,
  RelativeDistinguishedName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  type Extension,
} from '@peculiar/asn1-x509';
import type { SignatureScheme } from './algorithms.js';
import { bitStringOfBytes, sequence } from './der-writer.js';
import type { Signer } from './signer.js';

export interface CertificateParams {
  /** Serial as the DER INTEGER's content bytes (positive, minimal). */
  serial: Uint8Array;
  issuer: Name;
  subject: Name;
  notBefore: Date;
  notAfter: Date;
  spkiDer: Uint8Array;
  extensions: Extension[];
  signer: Signer;
}

export async function buildCertificate(p: CertificateParams): Promise<Uint8Array> {
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: toArrayBuffer(p.serial),
    signature: p.signer.scheme.identifier(),
    issuer: p.issuer,
    validity: new Validity({ notBefore: p.notBefore, notAfter: p.notAfter }),
    subject: p.subject,
    subjectPublicKeyInfo: AsnConvert.parse(p.spkiDer, SubjectPublicKeyInfo),
    extensions: new Extensions(p.extensions),
  });
  const tbsDer = new Uint8Array(AsnSerializer.toASN(tbs).toBER(false));
  const signature = await p.signer.sign(tbsDer);
  return wrapSigned(tbsDer, p.signer.scheme, signature);
}

/**
 * The SIGNED{} wrapper shared by certificates, CRLs and OCSP responses (RFC 5280 §4.1.1):
 * SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }. The TBS is already DER, so only the
 * outer SEQUENCE header is written around it instead of encoding the whole structure again.
 */
export function wrapSigned(tbsDer: Uint8Array, scheme: SignatureScheme, signature: Uint8Array): Uint8Array {
  return sequence(tbsDer, scheme.identifierDer, bitStringOfBytes(signature));
}

/** Name attribute OIDs used in subjects we write. */
const ATTRIBUTE_OIDS = { CN: '2.5.4.3', O: '2.5.4.10', OU: '2.5.4.11', C: '2.5.4.6' } as const;

/** Builds a Name from ordered attributes, e.g. `[['O', 'Anvil'], ['CN', 'Anvil Root']]`. */
export function nameOf(attributes: [keyof typeof ATTRIBUTE_OIDS, string][]): Name {
  return new Name(
    attributes.map(
      ([type, value]) =>
        new RelativeDistinguishedName([
          new AttributeTypeAndValue({
            type: ATTRIBUTE_OIDS[type],
            value: type === 'C' ? new AttributeValue({ printableString: value }) : new AttributeValue({ utf8String: value }),
          }),
        ]),
    ),
  );
}

/**
 * A fresh serial: 128 random bits, first byte forced into 0x01..0x7f so the DER INTEGER is
 * positive and always 16 bytes (RFC 5280 §4.1.2.2 allows up to 20; CA/B Forum asks ≥ 64 random bits).
 */
export function randomSerial(): Uint8Array {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f || 0x01;
  return new Uint8Array(bytes);
}

export const serialHex = (serial: Uint8Array): string => Buffer.from(serial).toString('hex');

/**
 * An operator-typed serial (any case, optional colons, leading zeros kept or dropped) in the
 * stored form: the DER INTEGER content in lowercase hex. Anvil's serials are positive with a
 * first byte below 0x80, so that is the shortest even-length hex of the value.
 */
export function canonicalSerial(text: string): string {
  const digits = text.replace(/:/g, '').toLowerCase().replace(/^0+/, '');
  return digits.length % 2 === 1 ? `0${digits}` : digits;
}

export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

export function derToPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

/** Splits PEM text into the DER of each CERTIFICATE block. */
export function pemToDerList(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (let m = re.exec(pem); m; m = re.exec(pem)) out.push(new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')));
  return out;
}
