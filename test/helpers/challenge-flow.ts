/**
 * Walking one authorization through any challenge type with the raw client: order, pick the
 * challenge of a type, respond with a payload (RFC 8555 §7.5.1; `{}` for most types,
 * `{"tkauth": …}` for tkauth-01), wait until the authorization settles, and judge the outcome
 * (§7.1.4: a failed challenge is `invalid` with an `error`; Anvil also keeps what it checked as
 * `validationRecord`, README "Challenges").
 */
import assert from 'node:assert/strict';
import { ACME_ERROR } from './acme-assert.js';
import { newOrder, poll, postAsGet, type Identifier } from './acme-flow.js';
import type { HttpResponse, RawAcme } from './raw-acme.js';

export interface PendingChallenge {
  orderUrl: string;
  order: any;
  authzUrl: string;
  authz: any;
  challenge: any;
}

/** The challenge of `type` in an authorization body (fails the test when it is not offered). */
export function challengeOf(authz: any, type: string): any {
  const challenge = ((authz?.challenges ?? []) as any[]).find((c) => c.type === type);
  assert.ok(challenge, `no ${type} challenge in ${JSON.stringify(authz)}`);
  return challenge;
}

/** newOrder for one identifier (`extra` e.g. `{profile}`), then its authorization and the challenge of `type`. */
export async function orderChallenge(acme: RawAcme, identifier: Identifier, type: string, extra: Record<string, unknown> = {}): Promise<PendingChallenge> {
  const created = await newOrder(acme, [identifier], extra);
  assert.equal(created.status, 201, `newOrder ${JSON.stringify(identifier)} ${JSON.stringify(extra)}: ${created.status} ${created.body}`);
  const authzUrl = String(created.json.authorizations[0]);
  const authz = await postAsGet(acme, authzUrl);
  assert.equal(authz.status, 200, `authorization: ${authz.body}`);
  assert.equal(authz.json.status, 'pending', `a fresh authorization is pending: ${authz.body}`);
  return { orderUrl: String(created.headers.location), order: created.json, authzUrl, authz: authz.json, challenge: challengeOf(authz.json, type) };
}

export interface Settled {
  /** The answer to the challenge POST. */
  response: HttpResponse;
  /** The authorization once it left `pending`. */
  authz: any;
  /** The challenge that was answered, as the settled authorization shows it. */
  challenge: any;
  /** From the challenge POST to the first poll that saw the authorization settled. */
  elapsedMs: number;
}

/** POSTs `payload` to the challenge, expects 200, and polls the authorization until it settles. */
export async function respondAndSettle(acme: RawAcme, pending: PendingChallenge, payload: unknown = {}, timeoutMs = 20_000): Promise<Settled> {
  const started = Date.now();
  const response = await acme.post(pending.challenge.url, payload);
  assert.equal(response.status, 200, `challenge response: ${response.status} ${response.body}`);
  const settled = await poll(acme, pending.authzUrl, (b) => b.status !== 'pending' && b.status !== 'processing', timeoutMs);
  const elapsedMs = Date.now() - started;
  assert.equal(settled.status, 200, `authorization: ${settled.body}`);
  return { response, authz: settled.json, challenge: challengeOf(settled.json, pending.challenge.type), elapsedMs };
}

/** A successful validation: challenge and authorization valid, with a validationRecord. */
export function assertChallengeValid(s: Settled): void {
  assert.equal(s.challenge.status, 'valid', `challenge must be valid: ${JSON.stringify(s.challenge)}`);
  assert.equal(s.authz.status, 'valid', `authorization must be valid: ${JSON.stringify(s.authz)}`);
  assert.ok(Array.isArray(s.challenge.validationRecord) && s.challenge.validationRecord.length > 0, `validationRecord: ${JSON.stringify(s.challenge)}`);
}

/**
 * A failed validation (§7.1.4, §7.5.1): the challenge is invalid with an `error` of the ACME type
 * `type` and a string detail, the authorization invalid, and — README "Challenges" — the record of
 * what was checked kept as a non-empty `validationRecord` (`requireRecord: false` leaves that to a
 * separate assertion). Returns the error document.
 */
export function assertChallengeInvalid(s: Settled, type: string, options: { requireRecord?: boolean } = {}): any {
  const c = s.challenge;
  assert.equal(c.status, 'invalid', `challenge must be invalid: ${JSON.stringify(c)}`);
  assert.ok(c.error && typeof c.error === 'object', `an invalid challenge carries an error: ${JSON.stringify(c)}`);
  assert.equal(c.error.type, ACME_ERROR + type, `error type (detail: ${c.error.detail})`);
  assert.equal(typeof c.error.detail, 'string', 'the error has a detail');
  assert.equal(s.authz.status, 'invalid', `the authorization is invalid: ${JSON.stringify(s.authz)}`);
  if (options.requireRecord ?? true) {
    assert.ok(Array.isArray(c.validationRecord) && c.validationRecord.length > 0, `an invalid challenge has a validationRecord: ${JSON.stringify(c)}`);
  }
  return c.error;
}

/** Orders `identifier`, answers the `type` challenge with `payload`, and waits for the outcome. */
export async function validateOnce(
  acme: RawAcme,
  identifier: Identifier,
  type: string,
  payload: unknown = {},
  extra: Record<string, unknown> = {},
): Promise<Settled & { pending: PendingChallenge }> {
  const pending = await orderChallenge(acme, identifier, type, extra);
  return { ...(await respondAndSettle(acme, pending, payload)), pending };
}
