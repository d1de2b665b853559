/**
 * How a challenge's validation record (RFC 8555 §8.3) is kept in the store: its JSON deflated
 * (RFC 1951, raw) against a fixed dictionary of the words validators write, behind one byte that
 * names the dictionary. An http-01 record of about 260 bytes keeps about 105; one stays with every
 * valid authorization, so on a store of a million certificates this is about 150 MB. The
 * dictionary is part of the stored format: a changed dictionary is a new tag, and every tag once
 * written stays readable.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';

/** Deflate gives its shortest references to the dictionary's end: the commonest words go last. */
const DICTIONARY_1 = Buffer.from(
  [
    '"records":1,"accepted":true,"attempts":0,"validator":"dns-persist-01","tls-alpn-01","tkauth-01","dns-01",',
    '"addressUsed":"::1","addressesResolved":["::1"],"port":443}],',
    '[{"url":"http://',
    '/.well-known/acme-challenge/',
    '","hostname":"',
    '","port":80,"addressesResolved":["127.0.0.1"],"addressUsed":"127.0.0.1",',
    '"validatedAt":"2026-12-03T12:00:00.000Z"}]',
  ].join(''),
);

const DICTIONARIES: ReadonlyMap<number, Buffer> = new Map([[1, DICTIONARY_1]]);
const CURRENT = 1;
/** Far above any record a validator writes; bounds what inflating a damaged row may allocate. */
const MAX_RECORD_BYTES = 1024 * 1024;

/** The stored form of a validation record. */
export function packRecord(record: unknown[]): Buffer {
  const json = Buffer.from(JSON.stringify(record));
  return Buffer.concat([Buffer.of(CURRENT), deflateRawSync(json, { dictionary: DICTIONARIES.get(CURRENT)!, level: 9 })]);
}

/** The validation record a stored form holds. */
export function unpackRecord(stored: Buffer): unknown[] {
  const dictionary = DICTIONARIES.get(stored[0]!);
  if (!dictionary) throw new Error(`a validation record is stored in an unknown form (${stored[0]})`);
  const json = inflateRawSync(stored.subarray(1), { dictionary, maxOutputLength: MAX_RECORD_BYTES });
  return JSON.parse(json.toString('utf8')) as unknown[];
}
