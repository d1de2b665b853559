import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AcmeProblem } from '../../src/acme/problem.js';
import { canonicalIp, dnsNameFault, parseOrderIdentifiers } from '../../src/domain/identifiers.js';

describe('order identifiers', () => {
  it('lower-cases DNS names, canonicalises IPs and removes duplicates', () => {
    const parsed = parseOrderIdentifiers(
      [
        { type: 'dns', value: 'A.Test' },
        { type: 'dns', value: 'a.test' },
        { type: 'ip', value: '2001:DB8:0:0::1' },
        { type: 'dns', value: '*.W.test' },
      ],
      10,
    );
    assert.deepEqual(parsed, [
      { identifier: { type: 'dns', value: 'a.test' }, wildcard: false },
      { identifier: { type: 'ip', value: '2001:db8::1' }, wildcard: false },
      { identifier: { type: 'dns', value: 'w.test' }, wildcard: true },
    ]);
  });

  const refused: [string, string][] = [
    ['-a.test', 'invalid label'],
    ['a..test', 'invalid label'],
    ['a_b.test', 'invalid label'],
    ['a.test.', 'must not end with a dot'],
    ['a.*.test', '"*" only as the whole leftmost label'],
    ['*.test', 'at least two labels'],
    ['10.0.0.1', 'is an IP address'],
    ['x'.repeat(64) + '.test', 'invalid label'],
    [('a'.repeat(60) + '.').repeat(5) + 'test', 'longer than 253'],
    ['a.123', 'all-numeric top-level label'],
  ];
  for (const [value, why] of refused) {
    it(`refuses DNS name ${JSON.stringify(value.slice(0, 40))} as rejectedIdentifier (${why})`, () => {
      assert.throws(
        () => parseOrderIdentifiers([{ type: 'dns', value }], 10),
        (e: unknown) => e instanceof AcmeProblem && e.type === 'rejectedIdentifier' && e.message.includes(why),
      );
    });
  }

  it('reports each refused identifier as a subproblem, with compound for mixed reasons', () => {
    try {
      parseOrderIdentifiers([{ type: 'dns', value: 'bad_.test' }, { type: 'email', value: 'a@b' }, { type: 'dns', value: 'ok.test' }], 10);
      assert.fail('expected a problem');
    } catch (e) {
      assert.ok(e instanceof AcmeProblem);
      assert.equal(e.type, 'compound');
      const doc = e.toDocument();
      assert.deepEqual(doc.subproblems?.map((s) => [s.type, s.identifier.value]), [
        ['urn:ietf:params:acme:error:rejectedIdentifier', 'bad_.test'],
        ['urn:ietf:params:acme:error:unsupportedIdentifier', 'a@b'],
      ]);
    }
  });

  it('refuses a malformed identifiers member, an empty list and too many identifiers', () => {
    assert.throws(() => parseOrderIdentifiers('a.test', 10), (e: unknown) => e instanceof AcmeProblem && e.type === 'malformed');
    assert.throws(() => parseOrderIdentifiers([], 10), (e: unknown) => e instanceof AcmeProblem && e.type === 'malformed');
    assert.throws(() => parseOrderIdentifiers([{ type: 'dns' }], 10), (e: unknown) => e instanceof AcmeProblem && e.type === 'malformed');
    const many = Array.from({ length: 3 }, (_, i) => ({ type: 'dns', value: `n${i}.test` }));
    assert.throws(() => parseOrderIdentifiers(many, 2), (e: unknown) => e instanceof AcmeProblem && e.type === 'rejectedIdentifier');
  });

  it('canonicalises IP text and rejects non-addresses', () => {
    assert.equal(canonicalIp('127.0.0.1'), '127.0.0.1');
    assert.equal(canonicalIp('::FFFF:7f00:1'), '::ffff:7f00:1');
    assert.equal(canonicalIp('1.2.3'), undefined);
    assert.equal(canonicalIp('fe80::1%eth0'), undefined);
    assert.equal(dnsNameFault('svc.internal'), undefined);
  });
});
