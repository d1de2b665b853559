/**
 * newOrder and the resources it creates (RFC 8555 §7.4, §7.5; IP identifiers RFC 8738): the order
 * and authorization objects, refused identifiers with subproblems, validity-window format, the
 * account's orders list, finalize before ready and access by another account. (Validation and
 * issuance: orders-issuance.test.ts; failed validations: challenges.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertOk, assertProblem, header } from '../helpers/acme-assert.js';
import { dns, makeCsr, newOrder, postAsGet, uniqueName, type Identifier } from '../helpers/acme-flow.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

let srv: TestServer;
let dir: string;
let acme: RawAcme;

before(async () => {
  srv = await startTestServer();
  dir = srv.directoryUrl;
  acme = await registered();
});

after(() => srv.close());

async function registered(): Promise<RawAcme> {
  const c = await new RawAcme(srv.directoryUrl, srv.rootPem).init();
  assertOk(await c.register(), 201, srv.directoryUrl);
  return c;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** A refused newOrder: the problem type and one subproblem of the same type per refused identifier (§6.7.1). */
async function assertRefused(identifiers: Identifier[], type: string, refused: Identifier[] = identifiers): Promise<void> {
  const doc = assertProblem(await newOrder(acme, identifiers), 400, type, dir);
  assert.ok(Array.isArray(doc.subproblems), `subproblems missing: ${JSON.stringify(doc)}`);
  assert.equal(doc.subproblems.length, refused.length, JSON.stringify(doc.subproblems));
  for (const identifier of refused) {
    const sub = doc.subproblems.find((s: any) => s.identifier?.type === identifier.type && s.identifier?.value === identifier.value);
    assert.ok(sub, `no subproblem names ${JSON.stringify(identifier)}: ${JSON.stringify(doc.subproblems)}`);
    assert.equal(sub.type, `urn:ietf:params:acme:error:${type}`);
    assert.equal(typeof sub.detail, 'string');
  }
}

describe('newOrder (§7.4)', () => {
  test('creates a pending order: 201, Location, identifiers, one authorization per name, finalize URL, expires', async () => {
    const names = [uniqueName('a'), uniqueName('b')];
    const res = await newOrder(acme, dns(...names));
    assertOk(res, 201, dir);
    const location = header(res, 'location');
    assert.ok(location.startsWith(`${srv.baseUrl}/order/`), `Location: ${location}`);
    const order = res.json;
    assert.equal(order.status, 'pending');
    assert.deepEqual(order.identifiers, dns(...names));
    assert.equal(order.authorizations.length, 2);
    for (const url of order.authorizations) assert.ok(url.startsWith(`${srv.baseUrl}/`), url);
    assert.equal(typeof order.finalize, 'string');
    assert.match(order.expires, RFC3339);
    assert.ok(Date.parse(order.expires) > Date.now());
    const read = await postAsGet(acme, location);
    assertOk(read, 200, dir);
    assert.deepEqual(read.json, order);
  });

  test('a payload without identifiers is refused as malformed', async () => {
    assertProblem(await acme.post(acme.directory.newOrder, {}), 400, 'malformed', dir);
    assertProblem(await acme.post(acme.directory.newOrder, { identifiers: [] }), 400, 'malformed', dir);
  });

  test('an unsupported identifier type is refused with unsupportedIdentifier naming it', async () => {
    await assertRefused([{ type: 'email', value: 'a@b.test' }], 'unsupportedIdentifier');
  });

  const badNames = ['-a.test', 'a..test', 'a_b.test', `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.${'e'.repeat(55)}.test`];
  for (const name of badNames) {
    test(`the DNS name ${JSON.stringify(name.length > 40 ? `${name.slice(0, 12)}… (${name.length} chars)` : name)} is refused with rejectedIdentifier`, async () => {
      await assertRefused(dns(name), 'rejectedIdentifier');
    });
  }

  test('several invalid DNS names in one order are refused with one subproblem naming each', async () => {
    await assertRefused([...dns(...badNames), ...dns(uniqueName('ok'))], 'rejectedIdentifier', dns(...badNames));
  });

  test('identifiers refused for different reasons are refused with compound and a subproblem each (§6.7.1)', async () => {
    const doc = assertProblem(await newOrder(acme, [{ type: 'email', value: 'a@b.test' }, ...dns('a_b.test')]), 403, 'compound', dir);
    assert.deepEqual(
      doc.subproblems.map((s: any) => [s.type, s.identifier.value]).sort(),
      [
        ['urn:ietf:params:acme:error:rejectedIdentifier', 'a_b.test'],
        ['urn:ietf:params:acme:error:unsupportedIdentifier', 'a@b.test'],
      ],
    );
  });

  test('a wildcard (*.a.test) is offered only challenges that can prove it (dns-01, dns-persist-01), never http-01', async () => {
    const res = await newOrder(acme, dns('*.a.test'));
    assertOk(res, 201, dir);
    const authz = await postAsGet(acme, res.json.authorizations[0]);
    assert.equal(authz.json.wildcard, true);
    assert.deepEqual(authz.json.identifier, { type: 'dns', value: 'a.test' });
    const types = authz.json.challenges.map((c: any) => c.type).sort();
    assert.deepEqual(types, ['dns-01', 'dns-persist-01']);
  });

  test('a wildcard is refused with rejectedIdentifier under a profile that allows none (shortlived)', async () => {
    const doc = assertProblem(await newOrder(acme, dns('*.b.test'), { profile: 'shortlived' }), 400, 'rejectedIdentifier', dir);
    assert.match(doc.detail, /wildcard/);
  });

  test('notBefore or notAfter that is not an RFC 3339 date-time is refused as malformed', async () => {
    const soon = new Date(Date.now() + 3_600_000).toISOString();
    for (const extra of [{ notBefore: 'tomorrow' }, { notAfter: '2030-13-45T00:00:00Z' }, { notBefore: 1_700_000_000 }, { notAfter: soon.slice(0, 10) }]) {
      const res = await newOrder(acme, dns(uniqueName('t')), extra);
      assertProblem(res, 400, 'malformed', dir);
    }
  });
});

describe('IP identifiers (RFC 8738)', () => {
  for (const ip of ['127.0.0.1', '::1']) {
    test(`an ip identifier ${ip} is accepted with an http-01 challenge`, async () => {
      const res = await newOrder(acme, [{ type: 'ip', value: ip }]);
      assertOk(res, 201, dir);
      assert.deepEqual(res.json.identifiers, [{ type: 'ip', value: ip }]);
      const authz = await postAsGet(acme, res.json.authorizations[0]);
      assertOk(authz, 200, dir);
      assert.deepEqual(authz.json.identifier, { type: 'ip', value: ip });
      assert.ok(authz.json.challenges.some((c: any) => c.type === 'http-01'), JSON.stringify(authz.json.challenges));
      assert.ok(!authz.json.challenges.some((c: any) => c.type === 'dns-01'), 'dns-01 cannot prove an IP address (RFC 8738 §7)');
    });
  }
});

describe('authorizations (§7.5)', () => {
  test('POST-as-GET returns a pending authorization with its identifier, expiry and http-01 challenge', async () => {
    const name = uniqueName('z');
    const order = (await newOrder(acme, dns(name))).json;
    const res = await postAsGet(acme, order.authorizations[0]);
    assertOk(res, 200, dir);
    const authz = res.json;
    assert.deepEqual(authz.identifier, { type: 'dns', value: name });
    assert.equal(authz.status, 'pending');
    assert.match(authz.expires, RFC3339);
    assert.equal(authz.wildcard, undefined);
    const challenge = authz.challenges.find((c: any) => c.type === 'http-01');
    assert.ok(challenge, JSON.stringify(authz.challenges));
    assert.equal(challenge.status, 'pending');
    assert.equal(typeof challenge.url, 'string');
    // §8.1: the token is base64url with at least 128 bits of entropy.
    assert.match(challenge.token, /^[A-Za-z0-9_-]{22,}$/);
    const read = await postAsGet(acme, challenge.url);
    assertOk(read, 200, dir);
    assert.equal(read.json.status, 'pending');
  });
});

describe('finalize and access rules (§7.4, §7.5)', () => {
  test('finalize before the order is ready is refused with 403 orderNotReady', async () => {
    const name = uniqueName('f');
    const order = (await newOrder(acme, dns(name))).json;
    const { csr } = await makeCsr([name]);
    assertProblem(await acme.post(order.finalize, { csr }), 403, 'orderNotReady', dir);
  });

  test("another account cannot read or act on this account's order, authorization or challenge (unauthorized)", async () => {
    const name = uniqueName('o');
    const created = await newOrder(acme, dns(name));
    const order = created.json;
    const authz = (await postAsGet(acme, order.authorizations[0])).json;
    const other = await registered();
    assertProblem(await postAsGet(other, header(created, 'location')), 403, 'unauthorized', dir);
    assertProblem(await postAsGet(other, order.authorizations[0]), 403, 'unauthorized', dir);
    assertProblem(await other.post(order.authorizations[0], { status: 'deactivated' }), 403, 'unauthorized', dir);
    assertProblem(await postAsGet(other, authz.challenges[0].url), 403, 'unauthorized', dir);
    assertProblem(await other.post(authz.challenges[0].url, {}), 403, 'unauthorized', dir);
    const { csr } = await makeCsr([name]);
    assertProblem(await other.post(order.finalize, { csr }), 403, 'unauthorized', dir);
    assert.equal((await postAsGet(acme, order.authorizations[0])).json.status, 'pending', 'nothing changed');
  });

  test('POST to the order URL with a non-empty payload is refused as malformed (reads are POST-as-GET, §6.3)', async () => {
    const created = await newOrder(acme, dns(uniqueName('g')));
    assertProblem(await acme.post(header(created, 'location'), {}), 400, 'malformed', dir);
  });

  test('an unknown order URL answers 404 malformed', async () => {
    assertProblem(await postAsGet(acme, `${srv.baseUrl}/order/doesNotExist`), 404, 'malformed', dir);
  });
});

describe("the account's orders list (§7.1.2.1)", () => {
  test("POST-as-GET to the account's orders URL lists the account's orders and only them", async () => {
    const c = await registered();
    const account = (await postAsGet(c, c.kid!)).json;
    const empty = await postAsGet(c, account.orders);
    assertOk(empty, 200, dir);
    assert.deepEqual(empty.json.orders, []);
    const first = header(await newOrder(c, dns(uniqueName('l'))), 'location');
    const second = header(await newOrder(c, dns(uniqueName('l'))), 'location');
    await newOrder(acme, dns(uniqueName('l')));
    const list = await postAsGet(c, account.orders);
    assertOk(list, 200, dir);
    assert.deepEqual([...list.json.orders].sort(), [first, second].sort());
  });
});
