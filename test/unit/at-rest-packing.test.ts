/**
 * The stored forms of certificate DER and validation records: whatever goes in comes back byte
 * for byte (or value for value), what is typical gets smaller, and a damaged row is an error, not
 * a huge allocation.
 */
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { test } from 'node:test';
import fc from 'fast-check';
import { packDer, unpackDer } from '../../src/store/shared/der-at-rest.js';
import { packRecord, unpackRecord } from '../../src/store/shared/record-at-rest.js';

const bytes = fc.uint8Array({ minLength: 0, maxLength: 2048 });

test('any bytes read back unchanged, with or without a dictionary, whatever their first byte', () => {
  fc.assert(
    fc.property(bytes, fc.option(bytes, { nil: null }), (der, dictionary) => {
      const stored = packDer(der, dictionary);
      assert.deepEqual(Buffer.from(unpackDer(stored, dictionary)), Buffer.from(der));
    }),
    { numRuns: 300 },
  );
});

test('a leaf sharing most of its bytes with the dictionary is stored in well under half its size', () => {
  const shared = Buffer.alloc(500, 0x5a);
  const leaf = (unique: number) => Buffer.concat([Buffer.of(0x30, 0x82, 0x02, 0x6c), Buffer.alloc(40, unique), shared]);
  const stored = packDer(leaf(1), leaf(2));
  assert.ok(stored.length < leaf(1).length / 2, `${stored.length} bytes stored for ${leaf(1).length}`);
  assert.equal(stored[0], 0x00);
});

test('DER stored without a dictionary is kept as is, so rows written before compression read unchanged', () => {
  const der = Buffer.of(0x30, 0x03, 0x02, 0x01, 0x05);
  assert.deepEqual(packDer(der, null), der);
  assert.deepEqual(Buffer.from(unpackDer(der, null)), der);
});

test('a compressed row whose dictionary is missing is an error, not wrong bytes', () => {
  const dictionary = Buffer.alloc(300, 7);
  const stored = packDer(Buffer.concat([Buffer.of(0x30), dictionary]), dictionary);
  assert.throws(() => unpackDer(stored, null), /no dictionary/);
});

test('a damaged row that would inflate past any certificate is refused', () => {
  const bomb = Buffer.concat([Buffer.of(0x00), deflateRawSync(Buffer.alloc(10 * 1024 * 1024), { dictionary: Buffer.of(1) })]);
  assert.throws(() => unpackDer(bomb, Buffer.of(1)), RangeError);
  const recordBomb = Buffer.concat([Buffer.of(0x01), deflateRawSync(Buffer.alloc(10 * 1024 * 1024, 0x20))]);
  assert.throws(() => unpackRecord(recordBomb));
});

test('any JSON validation record reads back equal', () => {
  fc.assert(
    fc.property(fc.array(fc.dictionary(fc.string(), fc.jsonValue())), (record) => {
      assert.deepEqual(unpackRecord(packRecord(record)), JSON.parse(JSON.stringify(record)));
    }),
    { numRuns: 300 },
  );
});

test('an http-01 validation record is stored in under half its JSON size', () => {
  const record = [
    {
      url: 'http://svc-4711.example.internal:80/.well-known/acme-challenge/Yw3bK2xk6f0bX8nq1ZK2ZcS0mQe1y3z5dVhH4G8tJ2A',
      hostname: 'svc-4711.example.internal',
      port: 80,
      addressesResolved: ['10.20.30.40'],
      addressUsed: '10.20.30.40',
      validatedAt: '2027-03-14T09:26:53.589Z',
    },
  ];
  const json = Buffer.byteLength(JSON.stringify(record));
  const stored = packRecord(record).length;
  assert.ok(stored < json / 2, `${stored} bytes stored for ${json}`);
});

test('a validation record in a form this code does not know is an error', () => {
  assert.throws(() => unpackRecord(Buffer.of(0x7f, 1, 2, 3)), /unknown form/);
});
