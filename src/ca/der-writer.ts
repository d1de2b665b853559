/**
 * DER encoding (X.690 §10) of the few universal types the hot paths write per certificate or per
 * OCSP answer, around parts that are already DER. This writes only; every DER the CA reads still
 * goes through asn1js and @peculiar/asn1-schema. The schema encoder stays the reference: the
 * property tests in test/unit/der-templates.test.ts hold these bytes equal to its output.
 */

/** A tag-length-value with the definite length form (X.690 §8.1.3, shortest form as DER asks). */
export function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const c of contents) length += c.length;
  const header = headerOf(tag, length);
  const out = new Uint8Array(header.length + length);
  out.set(header, 0);
  let offset = header.length;
  for (const c of contents) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

function headerOf(tag: number, length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(tag, length);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Uint8Array.of(tag, 0x80 | bytes.length, ...bytes);
}

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  enumerated: 0x0a,
  utf8String: 0x0c,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
  null: 0x05,
} as const;

/** [n] with the constructed bit: an EXPLICIT tag, or an IMPLICIT one over a constructed type. */
export const contextConstructed = (n: number): number => 0xa0 | n;
/** [n] primitive: an IMPLICIT tag over a primitive type (dNSName, iPAddress, NULL in CertStatus). */
export const contextPrimitive = (n: number): number => 0x80 | n;

export const sequence = (...members: Uint8Array[]): Uint8Array => tlv(TAG.sequence, ...members);
export const octetString = (bytes: Uint8Array): Uint8Array => tlv(TAG.octetString, bytes);
const encoder = new TextEncoder();
export const utf8String = (text: string): Uint8Array => tlv(TAG.utf8String, encoder.encode(text));

/**
 * INTEGER from the two's-complement content bytes the CA already holds in minimal form (serials:
 * positive, first byte below 0x80), written as given.
 */
export const integerFromContent = (content: Uint8Array): Uint8Array => tlv(TAG.integer, content);

/** A BIT STRING of whole bytes: no unused bits (signatures, keys). */
export const bitStringOfBytes = (bytes: Uint8Array): Uint8Array => tlv(TAG.bitString, Uint8Array.of(0), bytes);

const two = (n: number): string => (n < 10 ? `0${n}` : String(n));

function timeDigits(date: Date, fullYear: boolean): Uint8Array {
  const year = date.getUTCFullYear();
  const y = fullYear ? String(year).padStart(4, '0') : two(year % 100);
  const text = `${y}${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  return encoder.encode(text);
}

/** GeneralizedTime in whole seconds, `YYYYMMDDHHMMSSZ` (RFC 5280 §4.1.2.5.2: no fractions). */
export const generalizedTime = (date: Date): Uint8Array => tlv(TAG.generalizedTime, timeDigits(date, true));

/**
 * X.509 Time (RFC 5280 §4.1.2.5): UTCTime through 2049, GeneralizedTime from 2050, whole seconds.
 */
export function x509Time(date: Date): Uint8Array {
  return date.getUTCFullYear() > 2049 ? generalizedTime(date) : tlv(TAG.utcTime, timeDigits(date, false));
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. */
export function extensionDer(oidDer: Uint8Array, critical: boolean, valueDer: Uint8Array): Uint8Array {
  return critical ? sequence(oidDer, TRUE, octetString(valueDer)) : sequence(oidDer, octetString(valueDer));
}
const TRUE = Uint8Array.of(TAG.boolean, 1, 0xff);

/** An OBJECT IDENTIFIER (X.690 §8.19) from dotted text; called once per OID when a template is built. */
export function objectIdentifier(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  if (arcs.length < 2) throw new Error(`not an OID: ${dotted}`);
  const subids = [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)];
  const out: number[] = [];
  for (const subid of subids) {
    const chunk: number[] = [Number(subid & 0x7fn)];
    for (let v = subid >> 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(out));
}
