/**
 * DER input parsing that refuses trailing bytes. @peculiar/asn1-schema's AsnConvert.parse decodes
 * the first structure and ignores whatever follows it; here asn1js's own fromBER result says how
 * many bytes the outer structure took, and anything after it is refused, before the schema
 * mapping runs (the same two steps AsnConvert.parse takes, so nothing is decoded twice).
 */
import { fromBER } from 'asn1js';
import { AsnParser } from '@peculiar/asn1-schema';

/** A DER input that is not exactly one structure of the expected type. */
export class DerInputError extends Error {
  override name = 'DerInputError';
}

/** Parses `bytes` as exactly one `type`; throws DerInputError on garbage or trailing bytes. */
export function parseWholeDer<T>(bytes: Uint8Array | ArrayBuffer, type: new () => T): T {
  const buffer = bytes instanceof ArrayBuffer ? bytes : (bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  // Not parseEmbedded: asn1js otherwise tries every BIT STRING and OCTET STRING's contents as
  // nested BER, keeps what happens to decode, and the schema mapping never reads it (it maps the
  // contents it declares, as bytes). That guessing was about half of a CSR's parse.
  const asn = fromBER(buffer, { parseEmbedded: false, copyInput: false });
  if (asn.offset === -1 || asn.result.error) throw new DerInputError(`not DER: ${asn.result.error || 'undecodable'}`);
  if (asn.offset !== buffer.byteLength) throw new DerInputError(`${buffer.byteLength - asn.offset} bytes follow the outer structure`);
  try {
    return AsnParser.fromASN(asn.result, type);
  } catch (e) {
    throw new DerInputError(`not the expected structure: ${(e as Error).message}`);
  }
}
