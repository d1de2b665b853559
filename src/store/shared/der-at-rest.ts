/**
 * How a certificate's DER is kept in the store: either as is, or as one 0x00 byte followed by raw
 * DEFLATE (RFC 1951) against a dictionary, the first leaf stored with the same chain. Leaves of
 * one issuer share most of their bytes (issuer name, key identifiers, policy, CRL and OCSP URLs,
 * extension OIDs), so a P-256 leaf of about 620 bytes keeps about 230; that is a third of what a
 * stored certificate costs. A DER certificate always starts with 0x30 (SEQUENCE), so the first
 * byte says which form a row holds and rows stored before compression read unchanged; bytes that
 * themselves start with one of the two tags (never a certificate, but the store takes what it is
 * given) are kept behind a 0x01.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';

const DEFLATED = 0x00;
const VERBATIM = 0x01;
/** Far above any leaf; bounds what inflating a damaged or altered row may allocate. */
const MAX_DER_BYTES = 64 * 1024;

/** The stored form of `der`: deflated against `dictionary` when there is one and it saves bytes. */
export function packDer(der: Uint8Array, dictionary: Uint8Array | null): Buffer {
  const raw = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const packed = dictionary ? deflateRawSync(raw, { dictionary, level: 9 }) : null;
  if (packed && packed.length + 1 < raw.length) return Buffer.concat([Buffer.of(DEFLATED), packed]);
  return raw[0] === DEFLATED || raw[0] === VERBATIM ? Buffer.concat([Buffer.of(VERBATIM), raw]) : Buffer.from(raw);
}

/** The DER a stored form holds; `dictionary` is the one it was packed against, if any. */
export function unpackDer(stored: Buffer, dictionary: Uint8Array | null): Uint8Array {
  if (stored[0] === VERBATIM) return new Uint8Array(stored.buffer, stored.byteOffset + 1, stored.byteLength - 1);
  if (stored[0] !== DEFLATED) return new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
  if (!dictionary) throw new Error('a compressed certificate row has no dictionary (its chain row lost it)');
  const der = inflateRawSync(stored.subarray(1), { dictionary, maxOutputLength: MAX_DER_BYTES });
  return new Uint8Array(der.buffer, der.byteOffset, der.byteLength);
}
