/** The agent's timing rules (RFC 9773 §4.3.3 window pick, Retry-After clamp, ⅔ fallback, backoff) and its config checks. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgentConfigError, backoffCap, backoffDelay, clampRetryAfter, fallbackRenewalTime, parseAgentConfig, pickInWindow } from '../../src/agent/index.js';

const MIN = 60_000;
const DAY = 86_400_000;

describe('agent scheduler', () => {
  it('picks inside the window, uniformly over its extent, and now when the window has passed', () => {
    const w = { start: 1_000_000, end: 2_000_000 };
    assert.equal(pickInWindow(w, 0, () => 0), 1_000_000);
    assert.equal(pickInWindow(w, 0, () => 0.5), 1_500_000);
    assert.ok(pickInWindow(w, 0, () => 0.999999) < 2_000_000);
    assert.equal(pickInWindow(w, 3_000_000, () => 0.5), 3_000_000, 'window in the past: renew now');
    assert.equal(pickInWindow(w, 1_500_000, () => 0), 1_500_000, 'window already open: never a time in the past');
  });

  it('clamps Retry-After to [1 min, 1 day] and reads seconds or an HTTP date', () => {
    const now = Date.parse('2026-12-01T00:00:00Z');
    assert.equal(clampRetryAfter('5', now, MIN, DAY), MIN);
    assert.equal(clampRetryAfter('21600', now, MIN, DAY), 21_600_000);
    assert.equal(clampRetryAfter('999999', now, MIN, DAY), DAY);
    assert.equal(clampRetryAfter(undefined, now, MIN, DAY), MIN);
    assert.equal(clampRetryAfter('garbage', now, MIN, DAY), MIN);
    assert.equal(clampRetryAfter('Tue, 01 Dec 2026 02:00:00 GMT', now, MIN, DAY), 7_200_000);
  });

  it('without ARI renews at ⅔ of the lifetime minus at most 1/20 of it', () => {
    const nb = 0;
    const na = 60 * DAY;
    assert.equal(fallbackRenewalTime(nb, na, () => 0), 40 * DAY);
    assert.equal(fallbackRenewalTime(nb, na, () => 0.999999999), 40 * DAY - 3 * DAY);
  });

  it('backs off exponentially from the initial step with jitter, capped at a tenth of the remaining lifetime', () => {
    const initial = 30_000;
    assert.equal(backoffDelay(1, initial, DAY, () => 1), 30_000);
    assert.equal(backoffDelay(1, initial, DAY, () => 0), 15_000);
    assert.equal(backoffDelay(3, initial, DAY, () => 1), 120_000);
    assert.equal(backoffDelay(30, initial, DAY, () => 1), DAY / 10, 'capped');
    // A one-hour certificate with 20 minutes left: steps of at most 2 minutes, so ≥ 10 more tries.
    assert.equal(backoffCap(initial, 20 * MIN), 2 * MIN);
    assert.equal(backoffCap(initial, -5 * MIN), initial, 'expired: keep trying at the initial step');
  });
});

describe('agent config', () => {
  const base = {
    ca: { directories: ['https://ca.internal/directory'] },
    account: { keyFile: 'account.key' },
    challenge: { http01: { listen: '127.0.0.1:80' } },
    stateDir: 'state',
    certificates: [{ id: 'web', names: ['a.internal'], output: { dir: 'out' } }],
  };

  it('accepts a minimal file and fills the documented defaults, with paths made absolute', () => {
    const c = parseAgentConfig(base, 'agent.yaml', '/etc/anvil');
    assert.equal(c.ca.order, 'in-order');
    assert.equal(c.timing.backoffInitial, 30_000);
    assert.equal(c.timing.retryAfterMin, MIN);
    assert.equal(c.timing.retryAfterMax, DAY);
    assert.equal(c.certificates[0]!.keyType, 'ecdsa-p256');
    assert.equal(c.certificates[0]!.rotateKey, true);
    assert.equal(c.certificates[0]!.output.keyMode, 0o600);
    assert.equal(c.stateDir, '/etc/anvil/state');
    assert.equal(c.certificates[0]!.output.dir, '/etc/anvil/out');
  });

  const bad: [string, unknown, RegExp][] = [
    ['unknown field', { ...base, extra: 1 }, /\(top level\): Unrecognized key/],
    ['bad directory URL', { ...base, ca: { directories: ['not a url'] } }, /ca\.directories\.0:/],
    ['bad duration', { ...base, timing: { backoffInitial: '30 seconds' } }, /timing\.backoffInitial: must be a duration/],
    ['bad key type', { ...base, certificates: [{ ...base.certificates[0], keyType: 'dsa' }] }, /certificates\.0\.keyType:/],
    ['reload with both', { ...base, certificates: [{ ...base.certificates[0], reload: { command: 'x', pidFile: '/run/x.pid' } }] }, /certificates\.0\.reload: give either command or pidFile/],
    ['duplicate id', { ...base, certificates: [base.certificates[0], base.certificates[0]] }, /certificates\.1\.id: duplicate id web/],
    ['bad mode', { ...base, certificates: [{ ...base.certificates[0], output: { dir: 'o', keyMode: 'rw' } }] }, /certificates\.0\.output\.keyMode:/],
    ['bad listen', { ...base, listen: 'localhost' }, /listen: must be host:port/],
  ];
  for (const [what, raw, message] of bad) {
    it(`names the field: ${what}`, () => {
      assert.throws(() => parseAgentConfig(raw, 'agent.yaml'), (e: unknown) => e instanceof AgentConfigError && message.test((e as Error).message) && (e as Error).message.startsWith('agent.yaml:'));
    });
  }
});
