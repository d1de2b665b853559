/**
 * From a pending order to a certificate (RFC 8555 §7.4, §7.5.1, §8.3): http-01 through a real
 * responder, finalize with good and bad CSRs, the certificate chain, authorization reuse, and
 * access by other accounts.
 */
import assert from 'node:assert/strict';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { assertOk, assertProblem, links, mediaType } from '../helpers/acme-assert.js';
import { startAcmeFixture, type AcmeFixture } from '../helpers/acme-fixture.js';
import {
  dns,
  http01Of,
  issue,
  keyAuthorization,
  makeCsr,
  newOrder,
  pemBlocks,
  poll,
  postAsGet,
  pollSettled,
  readyOrder,
  uniqueName,
} from '../helpers/acme-flow.js';
import type { Http01Responder } from '../helpers/http01-responder.js';
import type { RawAcme } from '../helpers/raw-acme.js';
import type { TestServer } from '../helpers/test-server.js';

let fx: AcmeFixture;
let responder: Http01Responder;
let srv: TestServer;
let dir: string;
let acme: RawAcme;

before(async () => {
  fx = await startAcmeFixture({ '--validation-timeout': '5s' });
  ({ responder, srv, acme } = fx);
  dir = srv.directoryUrl;
});

after(() => fx?.close());

const registered = (): Promise<RawAcme> => fx.register();

describe('http-01 validation (§7.5.1, §8.3)', () => {
  test('POST {} to the challenge answers 200 processing (or valid) with Link rel="up"; the authorization becomes valid and the order ready', async () => {
    const name = uniqueName('h');
    const created = await newOrder(acme, dns(name));
    const orderUrl = String(created.headers.location);
    const authzUrl: string = created.json.authorizations[0];
    const challenge = http01Of((await postAsGet(acme, authzUrl)).json);
    responder.set(challenge.token, await keyAuthorization(acme, challenge.token));

    const res = await acme.post(challenge.url, {});
    assertOk(res, 200, dir);
    assert.equal(res.json.type, 'http-01');
    assert.equal(res.json.url, challenge.url);
    assert.ok(['processing', 'valid'].includes(res.json.status), `challenge status ${res.json.status}`);
    assert.deepEqual(links(res, 'up'), [authzUrl]);

    const authz = await pollSettled(acme, authzUrl);
    assertOk(authz, 200, dir);
    assert.equal(authz.json.status, 'valid');
    const validated = http01Of(authz.json);
    assert.equal(validated.status, 'valid');
    assert.ok(Date.parse((validated as any).validated) > 0, 'a valid challenge has "validated"');
    assert.ok(responder.requests.includes(`/.well-known/acme-challenge/${challenge.token}`), 'the validator fetched the token');

    const order = await postAsGet(acme, orderUrl);
    assertOk(order, 200, dir);
    assert.equal(order.json.status, 'ready');
  });
});

describe('finalize with a bad CSR (§7.4)', () => {
  const names = [uniqueName('c1'), uniqueName('c2')];
  let order: { url: string; order: any };

  before(async () => {
    order = await readyOrder(acme, responder, dns(...names));
  });

  test('a CSR with a name the order does not hold is refused with badCSR', async () => {
    const { csr } = await makeCsr([...names, uniqueName('extra')]);
    assertProblem(await acme.post(order.order.finalize, { csr }), 400, 'badCSR', dir);
  });

  test('a CSR missing one of the order\'s names is refused with badCSR', async () => {
    const { csr } = await makeCsr([names[0]!]);
    assertProblem(await acme.post(order.order.finalize, { csr }), 400, 'badCSR', dir);
  });

  test('a CSR for the account key is refused with badPublicKey', async () => {
    const { csr } = await makeCsr(names, { key: acme.key });
    assertProblem(await acme.post(order.order.finalize, { csr }), 400, 'badPublicKey', dir);
  });

  test('a csr that is not a DER PKCS#10 request is refused with badCSR', async () => {
    assertProblem(await acme.post(order.order.finalize, { csr: Buffer.from('not a csr').toString('base64url') }), 400, 'badCSR', dir);
  });

  test('after refused CSRs the order is still ready', async () => {
    assert.equal((await postAsGet(acme, order.url)).json.status, 'ready');
  });
});

describe('issuance (§7.4, §7.4.2)', () => {
  test('finalize with a good CSR answers 200; the order becomes valid with a certificate URL; finalizing again is orderNotReady', async () => {
    const name = uniqueName('v');
    const { url, order } = await readyOrder(acme, responder, dns(name));
    const { csr } = await makeCsr([name]);
    const res = await acme.post(order.finalize, { csr });
    assertOk(res, 200, dir);
    assert.ok(['processing', 'valid'].includes(res.json.status), `order status ${res.json.status}`);
    const valid = await poll(acme, url, (b) => b.status !== 'processing');
    assert.equal(valid.json.status, 'valid');
    assert.ok(String(valid.json.certificate).startsWith(`${srv.baseUrl}/`), `certificate: ${valid.json.certificate}`);
    assertProblem(await acme.post(order.finalize, { csr }), 403, 'orderNotReady', dir);
  });

  test('the certificate (POST-as-GET) is application/pem-certificate-chain: leaf + intermediate, verifying to the root', async () => {
    const name = uniqueName('p');
    const issued = await issue(acme, responder, [name]);
    const res = await postAsGet(acme, issued.certificateUrl);
    assertOk(res, 200, dir);
    assert.equal(mediaType(res), 'application/pem-certificate-chain');
    const blocks = pemBlocks(res.body);
    assert.equal(blocks.length, 2, 'leaf and intermediate');
    const [leaf, intermediate] = blocks.map((b) => new X509Certificate(b)) as [X509Certificate, X509Certificate];
    const root = new X509Certificate(srv.rootPem);
    assert.ok(leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey), 'leaf is signed by the intermediate');
    assert.ok(intermediate.checkIssued(root) && intermediate.verify(root.publicKey), 'intermediate is signed by the root');
    assert.ok(root.verify(root.publicKey), 'root is self-signed');
    assert.equal(leaf.ca, false);
    assert.equal(intermediate.ca, true);
    assert.match(leaf.subjectAltName ?? '', new RegExp(`DNS:${name.replace(/\./g, '\\.')}`));
    const csrKey = createPublicKey(issued.key.privateKey).export({ type: 'spki', format: 'der' });
    assert.ok(leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(csrKey), 'the leaf certifies the CSR key');
    assert.ok(Date.parse(leaf.validFrom) <= Date.now() && Date.now() < Date.parse(leaf.validTo));
  });

  test('another account cannot read the valid order, its authorization or its certificate (unauthorized)', async () => {
    const issued = await issue(acme, responder, [uniqueName('x')]);
    const other = await registered();
    assertProblem(await postAsGet(other, issued.orderUrl), 403, 'unauthorized', dir);
    assertProblem(await postAsGet(other, issued.order.authorizations[0]), 403, 'unauthorized', dir);
    assertProblem(await postAsGet(other, issued.certificateUrl), 403, 'unauthorized', dir);
  });

  test("the account's orders list contains its valid order", async () => {
    const c = await registered();
    const issued = await issue(c, responder, [uniqueName('w')]);
    const list = await postAsGet(c, `${c.kid}/orders`);
    assertOk(list, 200, dir);
    assert.ok(list.json.orders.includes(issued.orderUrl), JSON.stringify(list.json));
  });
});

describe('authorization reuse', () => {
  test('a second order for the same name by the same account starts with the valid authorization and status ready', async () => {
    const name = uniqueName('r');
    const first = await readyOrder(acme, responder, dns(name));
    const second = await newOrder(acme, dns(name));
    assertOk(second, 201, dir);
    assert.equal(second.json.status, 'ready');
    assert.deepEqual(second.json.authorizations, first.order.authorizations);
    assert.equal((await postAsGet(acme, second.json.authorizations[0])).json.status, 'valid');
  });

  test('another account ordering the same name gets its own pending authorization', async () => {
    const name = uniqueName('s');
    const first = await readyOrder(acme, responder, dns(name));
    const other = await registered();
    const res = await newOrder(other, dns(name));
    assertOk(res, 201, dir);
    assert.equal(res.json.status, 'pending');
    assert.notDeepEqual(res.json.authorizations, first.order.authorizations);
    assert.equal((await postAsGet(other, res.json.authorizations[0])).json.status, 'pending');
  });
});
