import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authzStatus, orderStatus } from '../../src/domain/status.js';
import type { OrderAuthzSummary, OrderRecord } from '../../src/store/types.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const later = new Date(NOW + 60_000);
const earlier = new Date(NOW - 60_000);

function order(stored: OrderRecord['status'], authzs: Pick<OrderAuthzSummary, 'status' | 'expiresAt'>[], expiresAt = later): OrderRecord {
  return {
    id: 'o',
    accountId: 'a',
    status: stored,
    identifiers: [],
    profile: 'default',
    notBefore: null,
    notAfter: null,
    expiresAt,
    createdAt: earlier,
    error: null,
    certificateId: null,
    replaces: null,
    replacesCertId: null,
    authorizations: authzs.map((a, i) => ({ id: String(i), ...a })),
  };
}

describe('status machines (RFC 8555 §7.1.6)', () => {
  it('an authorization past its expiry is expired, unless already final', () => {
    assert.equal(authzStatus({ status: 'pending', expiresAt: earlier }, NOW), 'expired');
    assert.equal(authzStatus({ status: 'valid', expiresAt: earlier }, NOW), 'expired');
    assert.equal(authzStatus({ status: 'invalid', expiresAt: earlier }, NOW), 'invalid');
    assert.equal(authzStatus({ status: 'deactivated', expiresAt: later }, NOW), 'deactivated');
    assert.equal(authzStatus({ status: 'pending', expiresAt: later }, NOW), 'pending');
  });

  const cases: [string, OrderRecord, string][] = [
    ['pending while an authorization is pending', order('pending', [{ status: 'valid', expiresAt: later }, { status: 'pending', expiresAt: later }]), 'pending'],
    ['ready when every authorization is valid', order('pending', [{ status: 'valid', expiresAt: later }, { status: 'valid', expiresAt: later }]), 'ready'],
    ['invalid when an authorization is invalid', order('pending', [{ status: 'invalid', expiresAt: later }, { status: 'valid', expiresAt: later }]), 'invalid'],
    ['invalid when an authorization is deactivated', order('pending', [{ status: 'deactivated', expiresAt: later }]), 'invalid'],
    ['invalid when an authorization expired', order('pending', [{ status: 'valid', expiresAt: earlier }]), 'invalid'],
    ['invalid when the order itself expired', order('pending', [{ status: 'valid', expiresAt: later }], earlier), 'invalid'],
    ['processing while issuing, whatever the authorizations', order('processing', [{ status: 'valid', expiresAt: earlier }]), 'processing'],
    ['valid once issued, even after its authorizations expire', order('valid', [{ status: 'valid', expiresAt: earlier }], earlier), 'valid'],
    ['invalid when issuance failed', order('invalid', [{ status: 'valid', expiresAt: later }]), 'invalid'],
  ];
  for (const [what, o, expected] of cases) {
    it(`an order is ${what}`, () => assert.equal(orderStatus(o, NOW), expected));
  }
});
