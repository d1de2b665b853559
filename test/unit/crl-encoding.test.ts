import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { AsnConvert, AsnParser } from '@peculiar/asn1-schema';
import * as asn1js from 'asn1js';
import { AlgorithmIdentifier, AttributeTypeAndValue, AttributeValue, Extension, Name, RelativeDistinguishedName, RevokedCertificate, TBSCertList, Time, Version } from '@peculiar/asn1-x509';
import { crlNumber, crlReason, invalidityDate } from '../../src/ca/extensions.js';
import { encodeCrlEntry, encodeTbsCertList } from '../../src/revocation/crl-encoding.js';
import type { RevokedEntry } from '../../src/store/types.js';

const signature = new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' });
const issuer = new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({ type: '2.5.4.3', value: new AttributeValue({ utf8String: 'Test CA' }) })])]);
const thisUpdate = new Date('2026-11-24T10:00:00Z');
const nextUpdate = new Date('2026-11-25T10:00:00Z');

/** The same TBSCertList built the ordinary way: an object per entry, encoded by @peculiar/asn1-x509. */
function reference(entries: RevokedEntry[], extensions: Extension[]): Buffer {
  const tbs = new TBSCertList({ version: Version.v2, signature, issuer, thisUpdate: new Time(thisUpdate), nextUpdate: new Time(nextUpdate), crlExtensions: extensions });
  if (entries.length > 0) {
    tbs.revokedCertificates = entries.map((e) => {
      const entry = new RevokedCertificate({ userCertificate: new Uint8Array(Buffer.from(e.serial, 'hex')).buffer, revocationDate: new Time(e.revokedAt) });
      const ext: Extension[] = [];
      if (e.reason !== 0) ext.push(crlReason(e.reason));
      if (e.invalidityDate) ext.push(invalidityDate(e.invalidityDate));
      if (ext.length > 0) entry.crlEntryExtensions = ext;
      return entry;
    });
  }
  return Buffer.from(AsnConvert.serialize(tbs));
}

function entry(reason: number, withInvalidity: boolean): RevokedEntry {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) || 1;
  return { serial: serial.toString('hex'), revokedAt: new Date('2026-11-24T09:30:00Z'), reason, invalidityDate: withInvalidity ? new Date('2026-11-23T00:00:00Z') : null };
}

test('a CRL built from stored entry encodings is byte-identical to one encoded entry by entry', () => {
  const entries = [entry(0, false), entry(1, true), entry(4, false), entry(5, true)];
  const stored = { count: entries.length, der: Buffer.concat(entries.map(encodeCrlEntry)) };
  const extensions = [crlNumber(42)];
  assert.deepEqual(Buffer.from(encodeTbsCertList({ signature, issuer, thisUpdate, nextUpdate, entries: stored, extensions })), reference(entries, extensions));
});

test('a CRL without revoked certificates omits revokedCertificates, like the ordinary encoding', () => {
  const extensions = [crlNumber(1)];
  const der = Buffer.from(encodeTbsCertList({ signature, issuer, thisUpdate, nextUpdate, entries: { count: 0, der: new Uint8Array(0) }, extensions }));
  assert.deepEqual(der, reference([], extensions));
  assert.equal(AsnConvert.parse(der, TBSCertList).revokedCertificates, undefined);
});

test('a list longer than 64 KiB gets a long-form length and parses back entry for entry', () => {
  const entries = Array.from({ length: 3000 }, (_, i) => entry(i % 3 === 0 ? 0 : 1, i % 5 === 0));
  const der = encodeTbsCertList({ signature, issuer, thisUpdate, nextUpdate, entries: { count: entries.length, der: Buffer.concat(entries.map(encodeCrlEntry)) }, extensions: [] });
  // Past asn1-schema's default node limit for parsing, so parse with asn1js's limits lifted.
  const ber = asn1js.fromBER(der, { maxDepth: Infinity, maxNodes: Infinity, maxContentLength: Infinity } as never);
  assert.equal(ber.offset, der.byteLength, 'the whole TBSCertList was read');
  const parsed = AsnParser.fromASN<TBSCertList>(ber.result, TBSCertList);
  assert.equal(parsed.revokedCertificates?.length, entries.length);
  assert.deepEqual(
    parsed.revokedCertificates!.map((r) => Buffer.from(r.userCertificate).toString('hex')),
    entries.map((e) => e.serial),
  );
});
