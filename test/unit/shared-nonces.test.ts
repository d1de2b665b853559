import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nonceKeyFrom, SharedNonceService, type NonceRedemptions } from '../../src/acme/shared-nonces.js';

/** The store's redemption table, as one set shared by every "instance" in the test. */
function sharedTable(): NonceRedemptions & { size(): number } {
  const used = new Set<string>();
  return {
    async redeemNonce(id) {
      if (used.has(id)) return false;
      used.add(id);
      return true;
    },
    size: () => used.size,
  };
}

describe('shared nonces (RFC 8555 §6.5 across instances)', () => {
  it('a nonce issued by instance A is accepted once by instance B, then refused everywhere', async () => {
    const table = sharedTable();
    const key = nonceKeyFrom('the shared passphrase');
    const a = new SharedNonceService(key, table);
    const b = new SharedNonceService(nonceKeyFrom('the shared passphrase'), table);
    const nonce = a.issue();
    assert.equal(await b.consume(nonce), true);
    assert.equal(await b.consume(nonce), false);
    assert.equal(await a.consume(nonce), false);
  });

  it('a nonce under another key, altered, truncated or expired is refused without touching the store', async () => {
    const table = sharedTable();
    const ours = new SharedNonceService(nonceKeyFrom('ours'), table);
    const theirs = new SharedNonceService(nonceKeyFrom('theirs'), table);
    const expired = new SharedNonceService(nonceKeyFrom('ours'), table, -1_000);
    const nonce = ours.issue();
    const flipped = (nonce[5] === 'A' ? 'B' : 'A');
    for (const bad of [theirs.issue(), nonce.slice(0, 5) + flipped + nonce.slice(6), nonce.slice(1), `${nonce}A`, '', 'not a nonce!', expired.issue()]) {
      assert.equal(await ours.consume(bad), false, JSON.stringify(bad));
    }
    assert.equal(table.size(), 0, 'nothing was redeemed');
    assert.equal(await ours.consume(nonce), true, 'the genuine one still works');
  });

  it('nonces are distinct and URL-safe base64 (RFC 8555 §6.5.1)', () => {
    const s = new SharedNonceService(nonceKeyFrom('p'), sharedTable());
    const seen = new Set(Array.from({ length: 1000 }, () => s.issue()));
    assert.equal(seen.size, 1000);
    for (const n of seen) assert.match(n, /^[A-Za-z0-9_-]+$/);
  });
});
