/**
 * With `--authz-reuse-window 0` a new order never reuses a valid authorization: every order for
 * a name starts pending with a fresh authorization (orders-issuance.test.ts covers reuse on).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertOk } from '../helpers/acme-assert.js';
import { startAcmeFixture, type AcmeFixture } from '../helpers/acme-fixture.js';
import { dns, newOrder, postAsGet, readyOrder, uniqueName } from '../helpers/acme-flow.js';
import type { Http01Responder } from '../helpers/http01-responder.js';
import { RawAcme } from '../helpers/raw-acme.js';
import type { TestServer } from '../helpers/test-server.js';

let fx: AcmeFixture;
let responder: Http01Responder;
let srv: TestServer;

before(async () => {
  fx = await startAcmeFixture({ '--authz-reuse-window': '0' });
  ({ responder, srv } = fx);
});

after(() => fx?.close());

test('with --authz-reuse-window 0 a second order for a validated name starts pending with a new authorization', async () => {
  const acme = await new RawAcme(srv.directoryUrl, srv.rootPem).init();
  assertOk(await acme.register(), 201, srv.directoryUrl);
  const name = uniqueName('noreuse');
  const first = await readyOrder(acme, responder, dns(name));
  assert.equal((await postAsGet(acme, first.order.authorizations[0])).json.status, 'valid');
  const second = await newOrder(acme, dns(name));
  assertOk(second, 201, srv.directoryUrl);
  assert.equal(second.json.status, 'pending');
  assert.notEqual(second.json.authorizations[0], first.order.authorizations[0]);
  assert.equal((await postAsGet(acme, second.json.authorizations[0])).json.status, 'pending');
});
