import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryNonceService } from '../../src/acme/nonces.js';

describe('nonces', () => {
  it('accepts an issued nonce exactly once', () => {
    const n = new MemoryNonceService();
    const nonce = n.issue();
    assert.match(nonce, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(n.consume(nonce), true);
    assert.equal(n.consume(nonce), false);
    assert.equal(n.consume('never-issued'), false);
  });

  it('forgets the oldest nonce when full, and expired nonces are refused', async () => {
    const n = new MemoryNonceService(2, 20);
    const first = n.issue();
    const second = n.issue();
    const third = n.issue();
    assert.equal(n.consume(first), false, 'evicted');
    assert.equal(n.consume(third), true);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(n.consume(second), false, 'expired');
  });
});
