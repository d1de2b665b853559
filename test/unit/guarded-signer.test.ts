/**
 * The guarded signer (src/ca/guarded-signer.ts) on its own: every signature is bounded by a
 * timeout, and a circuit breaker makes callers fail at once after 3 failures in a row, lets one
 * trial through after the cooldown, and closes again when that trial succeeds (README "Settings",
 * signerTimeout). The inner signers here are fakes that hang, fail or succeed on command.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { signatureSchemeFor } from '../../src/ca/algorithms.js';
import { GuardedSigner, SignerUnavailable, type SignerGuardOptions } from '../../src/ca/guarded-signer.js';
import type { Signer } from '../../src/ca/signer.js';

type Mode = 'ok' | 'hang' | 'fail';

/** A signer whose behaviour the test switches; counts the calls that reached it. */
function fakeSigner(initial: Mode): Signer & { mode: Mode; calls: number } {
  const fake = {
    kind: 'fake-hsm',
    keyType: 'ecdsa-p256' as const,
    scheme: signatureSchemeFor('ecdsa-p256'),
    mode: initial,
    calls: 0,
    sign(data: Uint8Array): Promise<Uint8Array> {
      fake.calls++;
      if (fake.mode === 'hang') return new Promise<Uint8Array>(() => undefined);
      if (fake.mode === 'fail') return Promise.reject(new Error('CKR_DEVICE_ERROR: secret token detail'));
      return Promise.resolve(new Uint8Array([0x30, data.length]));
    },
  };
  return fake;
}

const OPTIONS: SignerGuardOptions = { timeoutMs: 150, failures: 3, cooldownMs: 400 };
const DATA = new Uint8Array([1, 2, 3]);

/** Runs sign() expecting SignerUnavailable; returns the error and how long the rejection took. */
async function expectUnavailable(signer: GuardedSigner): Promise<{ error: SignerUnavailable; ms: number }> {
  const started = performance.now();
  try {
    await signer.sign(DATA);
  } catch (error) {
    const ms = performance.now() - started;
    assert.ok(error instanceof SignerUnavailable, `SignerUnavailable expected, got ${String(error)}`);
    assert.equal(error.name, 'SignerUnavailable');
    return { error, ms };
  }
  assert.fail('sign() must reject');
}

describe('GuardedSigner', () => {
  it('passes a signature through and copies kind, key type and scheme', async () => {
    const inner = fakeSigner('ok');
    const guarded = new GuardedSigner(inner, OPTIONS);
    assert.equal(guarded.kind, 'fake-hsm');
    assert.equal(guarded.keyType, 'ecdsa-p256');
    assert.equal(guarded.scheme, inner.scheme);
    assert.deepEqual(await guarded.sign(DATA), new Uint8Array([0x30, 3]));
    const health = guarded.health();
    assert.equal(health.ok, true);
    assert.equal(health.breakerOpen, false);
    assert.ok(health.lastSuccessAt instanceof Date);
  });

  it('a signer that hangs makes sign() reject within the timeout with SignerUnavailable', async () => {
    const guarded = new GuardedSigner(fakeSigner('hang'), OPTIONS);
    const { error, ms } = await expectUnavailable(guarded);
    assert.ok(ms >= OPTIONS.timeoutMs - 5, `not before the timeout (${ms.toFixed(0)} ms)`);
    assert.ok(ms < OPTIONS.timeoutMs + 250, `promptly after the timeout (${ms.toFixed(0)} ms)`);
    assert.match(error.message, /did not answer within 150 ms/);
    assert.equal(guarded.health().ok, false);
  });

  it('a failing signer rejects with SignerUnavailable without exposing the key store error', async () => {
    const guarded = new GuardedSigner(fakeSigner('fail'), OPTIONS);
    const { error } = await expectUnavailable(guarded);
    assert.equal(error.message, 'fake-hsm signer failed');
    assert.doesNotMatch(error.message, /CKR_|secret/);
    assert.match(guarded.health().lastError ?? '', /CKR_DEVICE_ERROR/, 'the cause is kept for health reporting');
  });

  it('after 3 failures the breaker opens and calls fail immediately without reaching the signer', async () => {
    const inner = fakeSigner('hang');
    const guarded = new GuardedSigner(inner, OPTIONS);
    for (let i = 0; i < 3; i++) await expectUnavailable(guarded);
    assert.equal(inner.calls, 3);
    assert.equal(guarded.health().breakerOpen, true);
    inner.mode = 'ok'; // even a healthy signer is not asked while the breaker is open
    const { error, ms } = await expectUnavailable(guarded);
    assert.ok(ms < 20, `fails fast while open (${ms.toFixed(1)} ms)`);
    assert.match(error.message, /circuit open/);
    assert.equal(inner.calls, 3, 'the open breaker did not call the signer');
  });

  it('after the cooldown a trial call succeeds and closes the breaker', async () => {
    const inner = fakeSigner('fail');
    const guarded = new GuardedSigner(inner, OPTIONS);
    for (let i = 0; i < 3; i++) await expectUnavailable(guarded);
    assert.equal(guarded.health().breakerOpen, true);
    inner.mode = 'ok';
    await sleep(OPTIONS.cooldownMs + 50);
    assert.deepEqual(await guarded.sign(DATA), new Uint8Array([0x30, 3]), 'the trial goes through');
    assert.equal(inner.calls, 4);
    const health = guarded.health();
    assert.equal(health.breakerOpen, false, 'a successful trial closes the breaker');
    assert.equal(health.ok, true);
    for (let i = 0; i < 5; i++) await guarded.sign(DATA);
    assert.equal(inner.calls, 9, 'closed again: every call reaches the signer');
  });

  it('a failed trial keeps the breaker open for another cooldown', async () => {
    const inner = fakeSigner('fail');
    const guarded = new GuardedSigner(inner, OPTIONS);
    for (let i = 0; i < 3; i++) await expectUnavailable(guarded);
    await sleep(OPTIONS.cooldownMs + 50);
    await expectUnavailable(guarded); // the trial, which fails
    assert.equal(inner.calls, 4);
    inner.mode = 'ok';
    const { ms } = await expectUnavailable(guarded);
    assert.ok(ms < 20, 'open again right after the failed trial');
    assert.equal(inner.calls, 4);
  });

  it('only failures in a row count: a success in between resets them', async () => {
    const inner = fakeSigner('fail');
    const guarded = new GuardedSigner(inner, OPTIONS);
    await expectUnavailable(guarded);
    await expectUnavailable(guarded);
    inner.mode = 'ok';
    await guarded.sign(DATA);
    inner.mode = 'fail';
    await expectUnavailable(guarded);
    await expectUnavailable(guarded);
    assert.equal(guarded.health().breakerOpen, false, 'two failures after a success do not open it');
    inner.mode = 'ok';
    await guarded.sign(DATA);
    assert.equal(inner.calls, 6);
  });
});
