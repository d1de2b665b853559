/**
 * The request-authentication rules of RFC 8555 §6 (JWS profile, url, nonces, keys), each broken
 * on its own against a live server: the exact status, problem type and headers of every refusal.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { JWK } from 'jose';
import { assertOk, assertProblem, header } from '../helpers/acme-assert.js';
import { postAsGet } from '../helpers/acme-flow.js';
import { ecdsaSigner, hs256Signer, noSignature, rawJws, rs256Signer } from '../helpers/hostile-jws.js';
import { httpsRequest, newAccountKey, RawAcme, type AccountKey, type HttpResponse } from '../helpers/raw-acme.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const MAX_REQUEST_BYTES = 4096;
const ORDER = { identifiers: [{ type: 'dns', value: 'jws-rules.test' }] };

let srv: TestServer;
let acme: RawAcme;
let dir: string;

before(async () => {
  srv = await startTestServer({ '--max-request-bytes': String(MAX_REQUEST_BYTES) });
  dir = srv.directoryUrl;
  acme = await new RawAcme(dir, srv.rootPem).init();
  assertOk(await acme.register(), 201, dir);
});

after(() => srv.close());

/** A client with its own fresh account (when `register`), for tests that change account state. */
async function client(key?: AccountKey, register = true): Promise<RawAcme> {
  const c = await new RawAcme(dir, srv.rootPem, key).init();
  if (register) assertOk(await c.register(), 201, dir);
  return c;
}

const postJson = (url: string, body: unknown) => acme.postRaw(url, JSON.stringify(body));

describe('JWS serialization and media type (§6.2)', () => {
  test('a POST with Content-Type application/json is refused with 415 malformed', async () => {
    const res = await acme.post(acme.directory.newOrder, ORDER, { contentType: 'application/json' });
    assertProblem(res, 415, 'malformed', dir);
  });

  test('a compact-serialization body is refused as malformed', async () => {
    const jws = await acme.sign(acme.directory.newOrder, ORDER);
    const res = await acme.postRaw(acme.directory.newOrder, `${jws.protected}.${jws.payload}.${jws.signature}`);
    assertProblem(res, 400, 'malformed', dir);
  });

  test('a general-serialization JWS (a "signatures" array) is refused as malformed', async () => {
    const jws = await acme.sign(acme.directory.newOrder, ORDER);
    const res = await postJson(acme.directory.newOrder, { payload: jws.payload, signatures: [{ protected: jws.protected, signature: jws.signature }] });
    assertProblem(res, 400, 'malformed', dir);
  });

  test('a JWS with an unprotected "header" member is refused as malformed', async () => {
    const jws = await acme.sign(acme.directory.newOrder, ORDER);
    const res = await postJson(acme.directory.newOrder, { ...jws, header: { kid: acme.kid } });
    assertProblem(res, 400, 'malformed', dir);
  });

  test('an empty body is refused as malformed', async () => {
    assertProblem(await acme.postRaw(acme.directory.newOrder, ''), 400, 'malformed', dir);
  });

  test('a tampered signature is refused as malformed', async () => {
    const jws = await acme.sign(acme.directory.newOrder, ORDER);
    const i = 10;
    const flipped = jws.signature[i] === 'A' ? 'B' : 'A';
    const res = await postJson(acme.directory.newOrder, { ...jws, signature: jws.signature.slice(0, i) + flipped + jws.signature.slice(i + 1) });
    assertProblem(res, 400, 'malformed', dir);
  });

  test('a correctly signed payload that is not JSON is refused as malformed', async () => {
    const url = acme.directory.newOrder;
    const jws = rawJws({ alg: 'ES256', kid: acme.kid, nonce: await acme.nonce(), url }, 'not json {', ecdsaSigner(acme.key.privateKey, 'sha256'));
    assertProblem(await postJson(url, jws), 400, 'malformed', dir);
  });

  test('a body larger than --max-request-bytes is refused with 413 malformed', async () => {
    const res = await acme.post(acme.directory.newOrder, { ...ORDER, padding: 'x'.repeat(MAX_REQUEST_BYTES + 1000) });
    assertProblem(res, 413, 'malformed', dir);
  });
});

describe('signature algorithms and keys (§6.2)', () => {
  test('alg "none" is refused with badSignatureAlgorithm and the accepted algorithms', async () => {
    const url = acme.directory.newOrder;
    const jws = rawJws({ alg: 'none', kid: acme.kid, nonce: await acme.nonce(), url }, JSON.stringify(ORDER), noSignature);
    const doc = assertProblem(await postJson(url, jws), 400, 'badSignatureAlgorithm', dir);
    assert.ok(Array.isArray(doc.algorithms), 'problem has an "algorithms" array');
    assert.ok(doc.algorithms.includes('ES256') && doc.algorithms.includes('EdDSA'), `algorithms: ${doc.algorithms}`);
    assert.ok(!doc.algorithms.includes('none'));
  });

  test('HS256 is refused with badSignatureAlgorithm and the accepted algorithms', async () => {
    const url = acme.directory.newAccount;
    const key = newAccountKey();
    const jws = rawJws({ alg: 'HS256', jwk: key.jwk, nonce: await acme.nonce(), url }, JSON.stringify({ termsOfServiceAgreed: true }), hs256Signer(Buffer.alloc(32, 7)));
    const doc = assertProblem(await postJson(url, jws), 400, 'badSignatureAlgorithm', dir);
    assert.ok(Array.isArray(doc.algorithms) && doc.algorithms.includes('ES256'), `algorithms: ${doc.algorithms}`);
  });

  test('an alg that does not fit the key (ES384 with a P-256 jwk) is refused with badSignatureAlgorithm', async () => {
    const url = acme.directory.newAccount;
    const key = newAccountKey('ES256');
    const jws = rawJws({ alg: 'ES384', jwk: key.jwk, nonce: await acme.nonce(), url }, JSON.stringify({ termsOfServiceAgreed: true }), ecdsaSigner(key.privateKey, 'sha384'));
    const doc = assertProblem(await postJson(url, jws), 400, 'badSignatureAlgorithm', dir);
    assert.ok(Array.isArray(doc.algorithms), 'problem has an "algorithms" array');
  });

  test('an alg that does not fit the account key behind kid (RS256 with a P-256 account) is refused with badSignatureAlgorithm', async () => {
    const url = acme.directory.newOrder;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jws = rawJws({ alg: 'RS256', kid: acme.kid, nonce: await acme.nonce(), url }, JSON.stringify(ORDER), rs256Signer(rsa.privateKey));
    const doc = assertProblem(await postJson(url, jws), 400, 'badSignatureAlgorithm', dir);
    assert.ok(Array.isArray(doc.algorithms), 'problem has an "algorithms" array');
  });

  test('a jwk carrying private key members is refused with badPublicKey', async () => {
    const key = newAccountKey();
    const privateJwk = key.privateKey.export({ format: 'jwk' }) as JWK;
    const res = await acme.post(acme.directory.newAccount, { termsOfServiceAgreed: true }, { key, useJwk: true, header: { jwk: privateJwk } });
    assertProblem(res, 400, 'badPublicKey', dir);
  });

  test('an RSA 1024-bit jwk is refused with badPublicKey', async () => {
    const url = acme.directory.newAccount;
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const jwk = weak.publicKey.export({ format: 'jwk' });
    const jws = rawJws({ alg: 'RS256', jwk, nonce: await acme.nonce(), url }, JSON.stringify({ termsOfServiceAgreed: true }), rs256Signer(weak.privateKey));
    assertProblem(await postJson(url, jws), 400, 'badPublicKey', dir);
  });

  for (const kind of ['ES384', 'EdDSA', 'RS256'] as const) {
    test(`an ${kind} account key registers (201) and signs newOrder (201)`, async () => {
      const c = await client(newAccountKey(kind));
      assertOk(await c.post(c.directory.newOrder, ORDER), 201, dir);
      assertOk(await postAsGet(c, c.kid!), 200, dir);
    });
  }
});

describe('jwk and kid (§6.2)', () => {
  test('a header with both jwk and kid is refused as malformed', async () => {
    const res = await acme.post(acme.directory.newOrder, ORDER, { header: { jwk: acme.key.jwk } });
    assertProblem(res, 400, 'malformed', dir);
  });

  test('a header with neither jwk nor kid is refused as malformed', async () => {
    const res = await acme.post(acme.directory.newOrder, ORDER, { useJwk: true, header: { jwk: undefined } });
    assertProblem(res, 400, 'malformed', dir);
  });

  test('jwk on newOrder (a resource that needs kid) is refused as malformed', async () => {
    assertProblem(await acme.post(acme.directory.newOrder, ORDER, { useJwk: true }), 400, 'malformed', dir);
  });

  test('kid on newAccount (a resource that needs jwk) is refused as malformed', async () => {
    const res = await acme.post(acme.directory.newAccount, { termsOfServiceAgreed: true }, { kid: acme.kid! });
    assertProblem(res, 400, 'malformed', dir);
  });

  test('a kid naming no account is refused with accountDoesNotExist', async () => {
    const res = await acme.post(acme.directory.newOrder, ORDER, { kid: `${srv.baseUrl}/acct/doesNotExist123` });
    assertProblem(res, 400, 'accountDoesNotExist', dir);
  });

  test('a deactivated account is refused with unauthorized on every later request (§7.3.6)', async () => {
    const c = await client();
    const deactivated = await c.post(c.kid!, { status: 'deactivated' });
    assertOk(deactivated, 200, dir);
    assert.equal(deactivated.json.status, 'deactivated');
    const attempts: [string, () => Promise<HttpResponse>][] = [
      ['newOrder', () => c.post(c.directory.newOrder, ORDER)],
      ['account POST-as-GET', () => postAsGet(c, c.kid!)],
      ['account update', () => c.post(c.kid!, { contact: ['mailto:x@example.test'] })],
      ['orders list', () => postAsGet(c, `${c.kid}/orders`)],
      ['revokeCert', () => c.post(c.directory.revokeCert, { certificate: 'AAAA' })],
      ['newAccount with the same key', () => c.post(c.directory.newAccount, { termsOfServiceAgreed: true }, { useJwk: true })],
      ['newAccount onlyReturnExisting', () => c.post(c.directory.newAccount, { onlyReturnExisting: true }, { useJwk: true })],
    ];
    for (const [what, send] of attempts) {
      const res = await send();
      assert.equal(res.status, 403, `${what}: ${res.status} ${res.body}`);
      assertProblem(res, 403, 'unauthorized', dir);
    }
  });
});

describe('url (§6.4)', () => {
  test('a header without url is refused as malformed', async () => {
    assertProblem(await acme.post(acme.directory.newOrder, ORDER, { url: null }), 400, 'malformed', dir);
  });

  test('a url other than the request URL is refused as unauthorized', async () => {
    const res = await acme.post(acme.directory.newOrder, ORDER, { url: acme.directory.newAccount });
    assertProblem(res, 403, 'unauthorized', dir);
  });
});

describe('nonces (§6.5)', () => {
  test('a header without nonce is refused with badNonce', async () => {
    assertProblem(await acme.post(acme.directory.newOrder, ORDER, { nonce: null }), 400, 'badNonce', dir);
  });

  test('an unknown nonce is refused with badNonce, and the Replay-Nonce of that error works for the retry', async () => {
    const refused = await acme.post(acme.directory.newOrder, ORDER, { nonce: 'AAAAAAAAAAAAAAAAAAAAAA' });
    assertProblem(refused, 400, 'badNonce', dir);
    const retry = await acme.post(acme.directory.newOrder, ORDER, { nonce: header(refused, 'replay-nonce') });
    assertOk(retry, 201, dir);
  });

  test('the identical signed request sent twice: the second is refused with badNonce', async () => {
    const body = JSON.stringify(await acme.sign(acme.directory.newOrder, ORDER));
    assertOk(await acme.postRaw(acme.directory.newOrder, body), 201, dir);
    assertProblem(await acme.postRaw(acme.directory.newOrder, body), 400, 'badNonce', dir);
  });

  test('a nonce already spent by one request is refused in a different request', async () => {
    const nonce = await acme.nonce();
    assertOk(await acme.post(acme.directory.newOrder, ORDER, { nonce }), 201, dir);
    assertProblem(await acme.post(acme.kid!, undefined, { nonce }), 400, 'badNonce', dir);
  });
});

describe('HTTP methods and paths (§6.3)', () => {
  test('GET on a POST-only resource is refused with 405 and Allow: POST', async () => {
    for (const url of [acme.directory.newAccount, acme.directory.newOrder, acme.directory.revokeCert, acme.directory.keyChange, acme.kid!]) {
      const res = await httpsRequest(url, { ca: srv.rootPem });
      assertProblem(res, 405, 'malformed', dir);
      assert.deepEqual(header(res, 'allow').split(/\s*,\s*/), ['POST'], `Allow for ${url}`);
    }
  });

  test('an unknown path answers 404 with a problem document', async () => {
    assertProblem(await httpsRequest(`${srv.baseUrl}/no-such-resource`, { ca: srv.rootPem }), 404, 'malformed', dir);
    assertProblem(await acme.post(`${srv.baseUrl}/no-such-resource`, {}), 404, 'malformed', dir);
  });
});
