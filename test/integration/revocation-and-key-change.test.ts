/**
 * revokeCert (RFC 8555 §7.6) by each kind of authority and with bad input, and account key
 * rollover (§7.3.5) with each of the server's checks broken on its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertOk, assertProblem, header } from '../helpers/acme-assert.js';
import { startAcmeFixture, type AcmeFixture } from '../helpers/acme-fixture.js';
import { foreignCertificate, issue, pemBlocks, pemToBase64url, postAsGet, readyOrder, dns, uniqueName, type Issued } from '../helpers/acme-flow.js';
import type { Http01Responder } from '../helpers/http01-responder.js';
import { newAccountKey, RawAcme, type AccountKey, type SignOptions } from '../helpers/raw-acme.js';

let fx: AcmeFixture;
let responder: Http01Responder;
let dir: string;
let acme: RawAcme;

before(async () => {
  fx = await startAcmeFixture();
  ({ responder, acme } = fx);
  dir = fx.srv.directoryUrl;
});

after(() => fx?.close());

const registered = (key?: AccountKey): Promise<RawAcme> => fx.register(key);

/** The leaf of an issued chain as revokeCert's base64url DER. */
const leafOf = (issued: Issued): string => pemToBase64url(pemBlocks(issued.chainPem)[0]!);

const revoke = (c: RawAcme, certificate: string, extra: Record<string, unknown> = {}, o: SignOptions = {}) =>
  c.post(c.directory.revokeCert, { certificate, ...extra }, o);

describe('revokeCert (§7.6)', () => {
  test('the owning account (kid) revokes with 200; revoking again is alreadyRevoked', async () => {
    const leaf = leafOf(await issue(acme, responder, [uniqueName('rv')]));
    const res = await revoke(acme, leaf, { reason: 4 });
    assertOk(res, 200, dir);
    assertProblem(await revoke(acme, leaf), 400, 'alreadyRevoked', dir);
  });

  test('a request signed with the certificate key (jwk) revokes with 200', async () => {
    const issued = await issue(acme, responder, [uniqueName('ck')]);
    const res = await revoke(acme, leafOf(issued), { reason: 1 }, { key: issued.key, useJwk: true });
    assertOk(res, 200, dir);
    assertProblem(await revoke(acme, leafOf(issued)), 400, 'alreadyRevoked', dir);
  });

  test('an unrelated account is refused as unauthorized, and the certificate stays unrevoked', async () => {
    const leaf = leafOf(await issue(acme, responder, [uniqueName('ua')]));
    const stranger = await registered();
    assertProblem(await revoke(stranger, leaf), 403, 'unauthorized', dir);
    assertOk(await revoke(acme, leaf), 200, dir);
  });

  test('a jwk that is not the certificate key is refused as unauthorized', async () => {
    const leaf = leafOf(await issue(acme, responder, [uniqueName('wk')]));
    assertProblem(await revoke(acme, leaf, {}, { key: newAccountKey(), useJwk: true }), 403, 'unauthorized', dir);
    assertOk(await revoke(acme, leaf), 200, dir);
  });

  test('an account holding valid authorizations for every name in the certificate may revoke it (200)', async () => {
    const name = uniqueName('az');
    const leaf = leafOf(await issue(acme, responder, [name]));
    const holder = await registered();
    await readyOrder(holder, responder, dns(name));
    assertOk(await revoke(holder, leaf), 200, dir);
  });

  test('reasons 7 (unassigned), 2 (cACompromise), 6 (certificateHold) are refused with badRevocationReason; "x", "1" and 1.5 (not an integer) are malformed', async () => {
    const leaf = leafOf(await issue(acme, responder, [uniqueName('br')]));
    for (const reason of [7, 2, 6]) {
      const res = await revoke(acme, leaf, { reason });
      assert.equal(res.status, 400, `reason ${JSON.stringify(reason)}: ${res.body}`);
      assertProblem(res, 400, 'badRevocationReason', dir);
    }
    for (const reason of ['x', '1', 1.5]) {
      const res = await revoke(acme, leaf, { reason });
      assertProblem(res, 400, 'malformed', dir);
      assert.match(res.json.detail, /reason/, `the problem names the field: ${res.body}`);
    }
    assertOk(await revoke(acme, leaf, { reason: 0 }), 200, dir);
  });

  test('a certificate this CA did not issue answers 404 malformed', async () => {
    assertProblem(await revoke(acme, await foreignCertificate(uniqueName('fc'))), 404, 'malformed', dir);
  });

  test('a certificate member that is not DER is refused as malformed', async () => {
    assertProblem(await revoke(acme, Buffer.from('not a certificate').toString('base64url')), 400, 'malformed', dir);
  });
});

interface KeyChangeParts {
  newKey?: AccountKey;
  /** Inner protected header overrides (e.g. a nonce, another url). */
  innerHeader?: Record<string, unknown>;
  innerUrl?: string;
  account?: string;
  oldKey?: unknown;
  /** Sign the inner JWS with this key instead of newKey. */
  innerSigner?: AccountKey;
}

/** POSTs a keyChange for `c` (§7.3.5): inner JWS by the new key over {account, oldKey}, outer by the current key. */
async function keyChange(c: RawAcme, parts: KeyChangeParts = {}) {
  const newKey = parts.newKey ?? newAccountKey();
  const url = c.directory.keyChange;
  const inner = await c.sign(
    url,
    { account: parts.account ?? c.kid, oldKey: parts.oldKey ?? c.key.jwk },
    {
      key: parts.innerSigner ?? newKey,
      useJwk: true,
      nonce: null,
      url: parts.innerUrl ?? url,
      header: { jwk: newKey.jwk, ...parts.innerHeader },
    },
  );
  return { res: await c.post(url, inner), newKey };
}

/** The account still answers to its current key (a refused keyChange changed nothing). */
async function assertKeyUnchanged(c: RawAcme): Promise<void> {
  assertOk(await postAsGet(c, c.kid!), 200, dir);
}

describe('keyChange (§7.3.5)', () => {
  test('rolls the key over: 200; the old key no longer finds the account, the new key signs as the same kid', async () => {
    const c = await registered();
    const oldKey = c.key;
    const { res, newKey } = await keyChange(c);
    assertOk(res, 200, dir);
    assert.equal(res.json.status, 'valid');

    const byOldKey = await c.post(c.directory.newAccount, { onlyReturnExisting: true }, { useJwk: true, key: oldKey });
    assertProblem(byOldKey, 400, 'accountDoesNotExist', dir);
    const byNewKey = await c.post(c.directory.newAccount, { onlyReturnExisting: true }, { useJwk: true, key: newKey });
    assertOk(byNewKey, 200, dir);
    assert.equal(header(byNewKey, 'location'), c.kid);

    c.key = newKey;
    assertOk(await postAsGet(c, c.kid!), 200, dir);
    assertOk(await c.post(c.directory.newOrder, { identifiers: dns(uniqueName('kc')) }), 201, dir);
    assertProblem(await c.post(c.kid!, undefined, { key: oldKey }), 400, 'malformed', dir);
  });

  test('an inner JWS carrying a nonce is refused as malformed', async () => {
    const c = await registered();
    const { res } = await keyChange(c, { innerHeader: { nonce: await c.nonce() } });
    assertProblem(res, 400, 'malformed', dir);
    await assertKeyUnchanged(c);
  });

  test('an inner url different from the outer url is refused as malformed', async () => {
    const c = await registered();
    const { res } = await keyChange(c, { innerUrl: c.directory.newAccount });
    assertProblem(res, 400, 'malformed', dir);
    await assertKeyUnchanged(c);
  });

  test('an inner JWS without jwk (kid instead) is refused as malformed', async () => {
    const c = await registered();
    const { res } = await keyChange(c, { innerHeader: { jwk: undefined, kid: c.kid } });
    assertProblem(res, 400, 'malformed', dir);
    await assertKeyUnchanged(c);
  });

  test('an inner JWS not signed by its jwk is refused as malformed', async () => {
    const c = await registered();
    const { res } = await keyChange(c, { innerSigner: newAccountKey() });
    assertProblem(res, 400, 'malformed', dir);
    await assertKeyUnchanged(c);
  });

  test('an oldKey that is not the account\'s current key is refused as unauthorized', async () => {
    const c = await registered();
    const { res } = await keyChange(c, { oldKey: newAccountKey().jwk });
    assertProblem(res, 403, 'unauthorized', dir);
    await assertKeyUnchanged(c);
  });

  test('an inner "account" other than the signing account is refused as unauthorized', async () => {
    const c = await registered();
    const other = await registered();
    const { res } = await keyChange(c, { account: other.kid });
    assertProblem(res, 403, 'unauthorized', dir);
    await assertKeyUnchanged(c);
  });

  test('a new key already held by another account answers 409 with that account\'s Location', async () => {
    const holder = await registered();
    const c = await registered();
    const { res } = await keyChange(c, { newKey: holder.key });
    assertProblem(res, 409, 'malformed', dir);
    assert.equal(header(res, 'location'), holder.kid);
    await assertKeyUnchanged(c);
    await assertKeyUnchanged(holder);
  });
});
