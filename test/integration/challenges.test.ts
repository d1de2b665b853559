/**
 * Failed http-01 validations (RFC 8555 §7.5.1, §8.3) and authorization deactivation (§7.5.2):
 * what the challenge, authorization and order say afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ACME_ERROR, assertOk, assertProblem, links } from '../helpers/acme-assert.js';
import { startAcmeFixture, type AcmeFixture } from '../helpers/acme-fixture.js';
import { dns, http01Of, newOrder, postAsGet, pollSettled, readyOrder, uniqueName } from '../helpers/acme-flow.js';
import type { TestDnsServer } from '../helpers/dns-server.js';
import type { Http01Responder } from '../helpers/http01-responder.js';
import { RawAcme } from '../helpers/raw-acme.js';
import type { TestServer } from '../helpers/test-server.js';

let fx: AcmeFixture;
let dnsServer: TestDnsServer;
let responder: Http01Responder;
let srv: TestServer;
let dir: string;
let acme: RawAcme;

before(async () => {
  fx = await startAcmeFixture({ '--validation-timeout': '3s' });
  ({ dnsServer, responder, srv, acme } = fx);
  dir = srv.directoryUrl;
});

after(() => fx?.close());

/** Orders `name`, lets `prepare` arrange the responder for the token, answers the challenge, waits. */
async function failedValidation(name: string, prepare: (token: string) => void): Promise<{ orderUrl: string; authz: any }> {
  const created = await newOrder(acme, dns(name));
  assertOk(created, 201, dir);
  const authzUrl: string = created.json.authorizations[0];
  const challenge = http01Of((await postAsGet(acme, authzUrl)).json);
  prepare(challenge.token);
  const res = await acme.post(challenge.url, {});
  assertOk(res, 200, dir);
  assert.deepEqual(links(res, 'up'), [authzUrl]);
  const settled = await pollSettled(acme, authzUrl);
  assertOk(settled, 200, dir);
  return { orderUrl: String(created.headers.location), authz: settled.json };
}

/** The challenge is invalid with `type`, its authorization invalid, its order invalid (§7.1.6). */
async function assertFailedWith(result: { orderUrl: string; authz: any }, type: string): Promise<void> {
  assert.equal(result.authz.status, 'invalid');
  const challenge = http01Of(result.authz) as any;
  assert.equal(challenge.status, 'invalid');
  assert.ok(challenge.error, `challenge has an error: ${JSON.stringify(challenge)}`);
  assert.equal(challenge.error.type, ACME_ERROR + type, `error: ${JSON.stringify(challenge.error)}`);
  assert.equal(typeof challenge.error.detail, 'string');
  const order = await postAsGet(acme, result.orderUrl);
  assertOk(order, 200, dir);
  assert.equal(order.json.status, 'invalid');
}

describe('failed http-01 validation (§8.3)', () => {
  test('a wrong body: the challenge is invalid with incorrectResponse, the authorization and the order invalid', async () => {
    const result = await failedValidation(uniqueName('wrong'), (token) => responder.set(token, `${token}.not-the-thumbprint`));
    await assertFailedWith(result, 'incorrectResponse');
  });

  test('nothing listening at the address: the challenge is invalid with connection', async () => {
    const name = uniqueName('dead');
    dnsServer.setA(name, ['127.0.0.2']);
    await assertFailedWith(await failedValidation(name, () => {}), 'connection');
  });

  test('a body past 4096 bytes is not read to its end: the challenge is invalid with unauthorized', async () => {
    const result = await failedValidation(uniqueName('huge'), (token) => responder.set(token, `${token}.${'x'.repeat(64 * 1024)}`));
    await assertFailedWith(result, 'unauthorized');
    assert.match((http01Of(result.authz) as any).error.detail, /returned more than 4096 bytes/);
  });

  test('HTTP 404 for the token: the challenge is invalid with unauthorized', async () => {
    await assertFailedWith(await failedValidation(uniqueName('missing'), () => {}), 'unauthorized');
  });

  test('a challenge response that is not a JSON object is refused as malformed', async () => {
    const order = (await newOrder(acme, dns(uniqueName('shape')))).json;
    const challenge = http01Of((await postAsGet(acme, order.authorizations[0])).json);
    assertProblem(await acme.post(challenge.url, ['x']), 400, 'malformed', dir);
    assert.equal((await postAsGet(acme, challenge.url)).json.status, 'pending');
  });
});

describe('authorization deactivation (§7.5.2)', () => {
  test('a pending authorization deactivated with {"status":"deactivated"} is deactivated and its order invalid', async () => {
    const created = await newOrder(acme, dns(uniqueName('deact')));
    const authzUrl: string = created.json.authorizations[0];
    const res = await acme.post(authzUrl, { status: 'deactivated' });
    assertOk(res, 200, dir);
    assert.equal(res.json.status, 'deactivated');
    assert.equal((await postAsGet(acme, authzUrl)).json.status, 'deactivated');
    assert.equal((await postAsGet(acme, String(created.headers.location))).json.status, 'invalid');
  });

  test('a valid authorization can be deactivated; its order becomes invalid and a new order does not reuse it', async () => {
    const name = uniqueName('deval');
    const { url, order } = await readyOrder(acme, responder, dns(name));
    const res = await acme.post(order.authorizations[0], { status: 'deactivated' });
    assertOk(res, 200, dir);
    assert.equal(res.json.status, 'deactivated');
    assert.equal((await postAsGet(acme, url)).json.status, 'invalid');
    const next = await newOrder(acme, dns(name));
    assertOk(next, 201, dir);
    assert.equal(next.json.status, 'pending');
    assert.notEqual(next.json.authorizations[0], order.authorizations[0]);
  });

  test('a status other than "deactivated" is refused as malformed', async () => {
    const created = await newOrder(acme, dns(uniqueName('valid')));
    assertProblem(await acme.post(created.json.authorizations[0], { status: 'valid' }), 400, 'malformed', dir);
    assert.equal((await postAsGet(acme, created.json.authorizations[0])).json.status, 'pending');
  });
});

describe("the account's orders list (§7.1.2.1)", () => {
  test('leaves out invalid orders (the server SHOULD NOT include them) and keeps pending ones', async () => {
    const c = await new RawAcme(dir, srv.rootPem).init();
    assertOk(await c.register(), 201, dir);
    const pending = await newOrder(c, dns(uniqueName('keep')));
    const doomed = await newOrder(c, dns(uniqueName('drop')));
    assertOk(await c.post(doomed.json.authorizations[0], { status: 'deactivated' }), 200, dir);
    assert.equal((await postAsGet(c, String(doomed.headers.location))).json.status, 'invalid');
    const list = await postAsGet(c, `${c.kid}/orders`);
    assertOk(list, 200, dir);
    assert.ok(list.json.orders.includes(String(pending.headers.location)), 'the pending order is listed');
    assert.ok(!list.json.orders.includes(String(doomed.headers.location)), `the invalid order is listed: ${JSON.stringify(list.json.orders)}`);
  });
});
