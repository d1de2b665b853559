import assert from 'node:assert/strict';
import { it } from 'node:test';
import { SessionSealer, cookieValue } from '../../src/ops/ui/sessions.js';

const HOUR = 3_600_000;

it('a session cookie opens for its token until it expires, and not one millisecond after', () => {
  let now = 1_000_000;
  const sealer = new SessionSealer('passphrase', HOUR, () => now);
  const { cookie, session } = sealer.open('ab'.repeat(32));
  assert.equal(session.expiresAt.getTime(), 1_000_000 + HOUR);
  assert.equal(sealer.read(cookie)?.tokenSha256, 'ab'.repeat(32));
  now += HOUR - 1;
  assert.equal(sealer.read(cookie)?.csrf, session.csrf, 'the CSRF token is the same for the whole session');
  now += 1;
  assert.equal(sealer.read(cookie), null);
});

it('a cookie sealed under another passphrase, edited in one byte, or truncated opens nothing', () => {
  const sealer = new SessionSealer('passphrase', HOUR);
  const { cookie } = sealer.open('cd'.repeat(32));
  assert.equal(new SessionSealer('another passphrase', HOUR).read(cookie), null);
  const raw = Buffer.from(cookie, 'base64url');
  raw[raw.length - 1] ^= 1;
  assert.equal(sealer.read(raw.toString('base64url')), null);
  assert.equal(sealer.read(cookie.slice(0, 20)), null);
  assert.equal(sealer.read(''), null);
  assert.equal(sealer.read('%%%not base64%%%'), null);
});

it('the CSRF check accepts only the session\'s own token: not another session\'s, not a missing or shortened one', () => {
  const sealer = new SessionSealer('passphrase', HOUR);
  const a = sealer.open('ef'.repeat(32)).session;
  const b = sealer.open('ef'.repeat(32)).session;
  assert.notEqual(a.csrf, b.csrf, 'two sessions of one token have different CSRF tokens');
  assert.equal(sealer.csrfMatches(a, a.csrf), true);
  assert.equal(sealer.csrfMatches(a, b.csrf), false);
  assert.equal(sealer.csrfMatches(a, undefined), false);
  assert.equal(sealer.csrfMatches(a, a.csrf.slice(1)), false);
});

it('finds the session cookie among others in a Cookie header', () => {
  assert.equal(cookieValue('a=1; anvil_session=xyz; b=2', 'anvil_session'), 'xyz');
  assert.equal(cookieValue('a=1', 'anvil_session'), undefined);
  assert.equal(cookieValue(undefined, 'anvil_session'), undefined);
});
