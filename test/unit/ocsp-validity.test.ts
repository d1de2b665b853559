/**
 * OCSP answer validity (issue 16 item 1): nextUpdate = min(now + lifetime, notAfter) in whole
 * seconds; an expired certificate's answer has no nextUpdate (RFC 6960 §2.4) and is fresh for a minute;
 * profiles that carry revocation pointers live at least twice the OCSP and CRL lifetimes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { loadProfiles } from '../../src/profiles/profile-set.js';
import { responseValidity } from '../../src/revocation/ocsp-service.js';
import { revocationTimingProblems } from '../../src/revocation/timing.js';
import { BUNDLED_PROFILES_DIR } from '../../src/server.js';

const now = new Date('2026-12-01T10:00:00.400Z');
const H = 3_600_000;

test('a certificate that outlives the OCSP lifetime gets the whole lifetime', () => {
  const v = responseValidity(now, 24 * H, [new Date(now.getTime() + 90 * 24 * H)]);
  assert.equal(v.nextUpdate?.toISOString(), '2026-12-02T10:00:00.000Z');
  assert.equal(v.freshUntil.toISOString(), v.nextUpdate?.toISOString());
});

test('a certificate that expires first ends the answer at its notAfter', () => {
  const notAfter = new Date('2026-12-02T09:59:00.000Z');
  const v = responseValidity(now, 24 * H, [notAfter]);
  assert.equal(v.nextUpdate?.toISOString(), notAfter.toISOString());
});

test('several certificates: the earliest notAfter bounds the shared nextUpdate', () => {
  const v = responseValidity(now, 24 * H, [new Date('2026-12-05T00:00:00Z'), new Date('2026-12-01T12:00:00Z')]);
  assert.equal(v.nextUpdate?.toISOString(), '2026-12-01T12:00:00.000Z');
});

test('an expired certificate (or one expiring within the second) gets no nextUpdate and a one-minute freshness', () => {
  for (const notAfter of [new Date('2026-11-30T00:00:00Z'), new Date('2026-12-01T10:00:00.900Z')]) {
    const v = responseValidity(now, 24 * H, [notAfter]);
    assert.equal(v.nextUpdate, null);
    assert.equal(v.freshUntil.toISOString(), '2026-12-01T10:01:00.000Z');
  }
});

test('revocation timing: the shipped profiles fit the default lifetimes; a 24 h profile with 24 h CRLs and OCSP answers is named', () => {
  const defaults = loadConfig({ flags: {}, env: {} });
  const shipped = [...loadProfiles(BUNDLED_PROFILES_DIR, 'default', () => undefined).byName.values()];
  assert.ok(shipped.length >= 5);
  for (const p of shipped) assert.deepEqual(revocationTimingProblems(p, defaults), [], p.name);
  const long = loadConfig({ flags: { '--ocsp-response-lifetime': '24h', '--crl-lifetime': '24h' }, env: {} });
  const problems = revocationTimingProblems(shipped.find((p) => p.name === 'default')!, long);
  assert.equal(problems.length, 2);
  assert.match(problems[0]!, /profile default \(validity 24h\) carries an OCSP pointer.*set ocspResponseLifetime to at most 12h/);
  assert.match(problems[1]!, /profile default \(validity 24h\) carries a CRL pointer.*set crlLifetime to at most 12h/);
  assert.deepEqual(revocationTimingProblems(shipped.find((p) => p.name === 'shortlived')!, long), [], 'no pointer, no problem');
});
