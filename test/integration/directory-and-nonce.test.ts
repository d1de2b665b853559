/**
 * The directory (RFC 8555 §7.1.1) and newNonce (§7.2) on a server without terms of service
 * (accounts.test.ts covers meta.termsOfService when it is configured).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertOk, header, mediaType } from '../helpers/acme-assert.js';
import { httpsRequest, RawAcme } from '../helpers/raw-acme.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

let srv: TestServer;
let dir: string;

before(async () => {
  srv = await startTestServer();
  dir = srv.directoryUrl;
});

after(() => srv.close());

const get = (url: string, method = 'GET') => httpsRequest(url, { method, ca: srv.rootPem });

describe('directory (§7.1.1)', () => {
  test('GET /directory returns JSON with every resource URL under the base URL', async () => {
    const res = await get(dir);
    assertOk(res, 200, dir);
    assert.equal(mediaType(res), 'application/json');
    for (const name of ['newNonce', 'newAccount', 'newOrder', 'revokeCert', 'keyChange']) {
      assert.equal(typeof res.json[name], 'string', `directory.${name}`);
      assert.ok(res.json[name].startsWith(`${srv.baseUrl}/`), `directory.${name} = ${res.json[name]}`);
    }
    assert.equal(new Set(['newNonce', 'newAccount', 'newOrder', 'revokeCert', 'keyChange'].map((n) => res.json[n])).size, 5, 'URLs are distinct');
  });

  test('meta has externalAccountRequired false, a profiles map with the default profile, and no termsOfService when none is configured', async () => {
    const { meta } = (await get(dir)).json;
    assert.equal(meta.externalAccountRequired, false);
    assert.equal(typeof meta.profiles, 'object');
    assert.equal(typeof meta.profiles.default, 'string', 'profiles.default is a description');
    assert.equal('termsOfService' in meta, false);
  });
});

describe('newNonce (§7.2)', () => {
  test('HEAD answers 200 with a Replay-Nonce and Cache-Control: no-store', async () => {
    const res = await get(`${srv.baseUrl}/new-nonce`, 'HEAD');
    assertOk(res, 200, dir);
    assert.match(header(res, 'cache-control'), /(^|,)\s*no-store\s*(,|$)/);
  });

  test('GET answers 204 with a Replay-Nonce and Cache-Control: no-store', async () => {
    const acme = await new RawAcme(dir, srv.rootPem).init();
    const res = await get(acme.directory.newNonce);
    assertOk(res, 204, dir);
    assert.equal(res.body, '');
    assert.match(header(res, 'cache-control'), /(^|,)\s*no-store\s*(,|$)/);
  });

  test('every response carries a different nonce', async () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 5; i++) nonces.add(header(await get(`${srv.baseUrl}/new-nonce`, 'HEAD'), 'replay-nonce'));
    assert.equal(nonces.size, 5);
  });

  test('a nonce from GET newNonce is accepted once by newAccount', async () => {
    const acme = await new RawAcme(dir, srv.rootPem).init();
    const nonce = header(await get(acme.directory.newNonce), 'replay-nonce');
    const res = await acme.post(acme.directory.newAccount, { termsOfServiceAgreed: true }, { useJwk: true, nonce });
    assertOk(res, 201, dir);
  });
});
