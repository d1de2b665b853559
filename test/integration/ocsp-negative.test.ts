/**
 * The OCSP responder (RFC 6960, RFC 5019 profile, RFC 8954 nonces) with requests it must refuse
 * or answer specially, on both listeners (the plain-HTTP revocation listener and the ACME HTTPS
 * listener). Every answer is HTTP 200 `application/ocsp-response` carrying an OCSPResponse whose
 * status says what was wrong (RFC 6960 §2.3, A.1); never an HTTP error, never a 500.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { Extension } from '@peculiar/asn1-x509';
import { startAcmeFixture, type AcmeFixture } from '../helpers/acme-fixture.js';
import { issue, pemBlocks, uniqueName } from '../helpers/acme-flow.js';
import { certIdOf, nonceExtension, ocspRequest, OCSPResponseStatus, parseOcspResponse, serialBytes, type ParsedOcspResponse } from '../helpers/ocsp-wire.js';
import { binaryRequest, mediaTypeOf, ocspGet, ocspPost, revocationUrlsOf, type BinaryResponse } from '../helpers/revocation-http.js';
import type { TestServer } from '../helpers/test-server.js';
import { freePort } from '../interop/harness.js';

let fx: AcmeFixture;
let srv: TestServer;
let leaf = '';
let intermediate = '';
/** The OCSP URL of each listener: the certificate's (plain HTTP) and the ACME listener's. */
let endpoints: { name: string; url: string }[] = [];

before(async () => {
  const revocationPort = await freePort();
  fx = await startAcmeFixture({ '--revocation-listen': `127.0.0.1:${revocationPort}` });
  srv = fx.srv;
  const issued = await issue(fx.acme, fx.responder, [uniqueName('ocspneg')]);
  [leaf, intermediate] = pemBlocks(issued.chainPem) as [string, string];
  const urls = revocationUrlsOf(leaf);
  assert.equal(urls.ocsp, `http://127.0.0.1:${revocationPort}/ocsp`, 'the AIA OCSP URL names the revocation listener');
  endpoints = [
    { name: 'revocation listener', url: urls.ocsp },
    { name: 'ACME listener', url: `${srv.baseUrl}/ocsp` },
  ];
});

after(() => fx?.close());

/** POST / GET an OCSP request to either listener (the root is trusted for the HTTPS one). */
const post = (url: string, der: Uint8Array): Promise<BinaryResponse> => ocspPost(url, der, srv.rootPem);
const get = (url: string, der: Uint8Array): Promise<BinaryResponse> => ocspGet(url, der, srv.rootPem);

/** An OCSP answer: HTTP 200, application/ocsp-response, a parseable OCSPResponse. */
function ocspAnswer(res: BinaryResponse, what: string): ParsedOcspResponse {
  assert.notEqual(res.status, 500, `${what}: never an HTTP 500`);
  assert.equal(res.status, 200, `${what}: OCSP errors are OCSPResponses in an HTTP 200 (RFC 6960 A.1), got ${res.status}: ${res.body.toString('utf8').slice(0, 200)}`);
  assert.equal(mediaTypeOf(res), 'application/ocsp-response', `${what}: Content-Type`);
  return parseOcspResponse(res.body);
}

/** An unsuccessful OCSPResponse: exactly this status and no responseBytes (RFC 6960 §4.2.1). */
function assertRefused(res: BinaryResponse, status: OCSPResponseStatus, what: string): void {
  const parsed = ocspAnswer(res, what);
  assert.equal(parsed.responseStatus, status, `${what}: responseStatus ${OCSPResponseStatus[parsed.responseStatus]}, expected ${OCSPResponseStatus[status]}`);
  assert.equal(parsed.basic, undefined, `${what}: an unsuccessful response carries no responseBytes`);
}

/** A successful, correctly signed response with one SingleResponse; returns it. */
function assertSingle(res: BinaryResponse, what: string) {
  const parsed = ocspAnswer(res, what);
  assert.equal(parsed.responseStatus, OCSPResponseStatus.successful, `${what}: responseStatus ${OCSPResponseStatus[parsed.responseStatus]}`);
  assert.ok(parsed.basic, `${what}: a successful response has a BasicOCSPResponse`);
  assert.ok(parsed.basic.signatureValid, `${what}: the signature verifies with the included responder certificate`);
  assert.equal(parsed.basic.singles.length, 1, `${what}: one SingleResponse per CertID`);
  return { single: parsed.basic.singles[0]!, basic: parsed.basic };
}

/** One test that runs `fn` against each listener and reports every listener that failed. */
const forEachEndpoint = (name: string, fn: (url: string, label: string) => Promise<void>) => {
  test(name, async () => {
    const failures: string[] = [];
    for (const e of endpoints) {
      try {
        await fn(e.url, `${name} [${e.name}]`);
      } catch (error) {
        failures.push((error as Error).message.split('\n')[0]!);
      }
    }
    assert.deepEqual(failures, [], failures.join('\n'));
  });
};

describe('OCSP requests refused as malformedRequest (RFC 6960 §2.3)', () => {
  forEachEndpoint('a body that is not DER is malformedRequest', async (url, label) => {
    assertRefused(await post(url, Buffer.from('this is not an OCSP request')), OCSPResponseStatus.malformedRequest, label);
    assertRefused(await post(url, randomBytes(64)), OCSPResponseStatus.malformedRequest, `${label} (random bytes)`);
  });

  forEachEndpoint('an empty POST body is malformedRequest', async (url, label) => {
    assertRefused(await post(url, new Uint8Array(0)), OCSPResponseStatus.malformedRequest, label);
  });

  forEachEndpoint('a POST body over 8 KiB is malformedRequest', async (url, label) => {
    const big = ocspRequest([certIdOf(leaf, intermediate)], { extensions: [new Extension({ extnID: '1.3.6.1.4.1.99999.1', critical: false, extnValue: new OctetString(randomBytes(9000)) })] });
    assert.ok(big.length > 8192);
    assertRefused(await post(url, big), OCSPResponseStatus.malformedRequest, label);
  });

  forEachEndpoint('a CertID hashed with SHA-384 or MD5 is malformedRequest (only SHA-1 and SHA-256 are served)', async (url, label) => {
    for (const hash of ['sha384', 'md5'] as const) {
      assertRefused(await post(url, ocspRequest([certIdOf(leaf, intermediate, { hash })])), OCSPResponseStatus.malformedRequest, `${label} ${hash}`);
    }
  });

  forEachEndpoint('a CertID whose hash lengths do not fit its algorithm is malformedRequest', async (url, label) => {
    const id = certIdOf(leaf, intermediate, { hash: 'sha256', nameHash: randomBytes(20), keyHash: randomBytes(20) });
    assertRefused(await post(url, ocspRequest([id])), OCSPResponseStatus.malformedRequest, label);
  });

  forEachEndpoint('a nonce of 0 bytes or of 33 bytes is malformedRequest (RFC 8954 §2.1)', async (url, label) => {
    for (const size of [0, 33]) {
      const der = ocspRequest([certIdOf(leaf, intermediate)], { nonce: randomBytes(size) });
      assertRefused(await post(url, der), OCSPResponseStatus.malformedRequest, `${label}: nonce of ${size} bytes`);
    }
  });

  forEachEndpoint('an unknown critical request extension is malformedRequest', async (url, label) => {
    const ext = new Extension({ extnID: '1.3.6.1.4.1.99999.2', critical: true, extnValue: new OctetString(AsnConvert.serialize(new OctetString(new Uint8Array([1])))) });
    assertRefused(await post(url, ocspRequest([certIdOf(leaf, intermediate)], { extensions: [ext] })), OCSPResponseStatus.malformedRequest, label);
  });

  forEachEndpoint('a chunked POST body over 8 KiB (no Content-Length) is malformedRequest, and the connection closes', async (url, label) => {
    const res = await binaryRequest(url, { method: 'POST', headers: { 'Content-Type': 'application/ocsp-request', 'Transfer-Encoding': 'chunked' }, body: randomBytes(20_000), ca: srv.rootPem });
    assertRefused(res, OCSPResponseStatus.malformedRequest, label);
    assert.equal(res.headers.connection, 'close', `${label}: the unread rest of the body is not kept on the connection`);
  });

  forEachEndpoint('a POST body with a Content-Encoding is malformedRequest (OCSP requests are plain DER)', async (url, label) => {
    const der = ocspRequest([certIdOf(leaf, intermediate)]);
    const res = await binaryRequest(url, { method: 'POST', headers: { 'Content-Type': 'application/ocsp-request', 'Content-Encoding': 'gzip' }, body: der, ca: srv.rootPem });
    assertRefused(res, OCSPResponseStatus.malformedRequest, label);
  });

  forEachEndpoint('POST to a path below /ocsp and PUT to /ocsp are refused with a 4xx, never a 2xx or 5xx', async (url, label) => {
    const der = ocspRequest([certIdOf(leaf, intermediate)]);
    for (const [method, target] of [['POST', `${url}/x`], ['PUT', url], ['DELETE', url]] as const) {
      const res = await binaryRequest(target, { method, headers: { 'Content-Type': 'application/ocsp-request' }, body: der, ca: srv.rootPem });
      assert.ok(res.status >= 400 && res.status < 500, `${label}: ${method} ${target} got ${res.status}`);
    }
  });

  forEachEndpoint('HEAD of a GET request has the GET answer\'s headers and no body', async (url, label) => {
    const der = ocspRequest([certIdOf(leaf, intermediate)]);
    const target = `${url}/${encodeURIComponent(Buffer.from(der).toString('base64'))}`;
    const head = await binaryRequest(target, { method: 'HEAD', ca: srv.rootPem });
    const full = await binaryRequest(target, { ca: srv.rootPem });
    assert.equal(head.status, 200, label);
    assert.equal(mediaTypeOf(head), 'application/ocsp-response', label);
    assert.equal(head.body.length, 0, `${label}: no body`);
    assert.equal(head.headers.etag, full.headers.etag, `${label}: the same ETag as the GET`);
  });

  const badGets: [string, string][] = [
    ['invalid base64 characters', '/!!!not-base64!!!'],
    ['url-encoded invalid base64', '/' + encodeURIComponent('@@@@')],
    ['a broken percent-encoding', '/%%zz'],
    ['an empty request path (/ocsp/)', '/'],
    ['no request at all (/ocsp)', ''],
  ];
  for (const [what, suffix] of badGets) {
    forEachEndpoint(`GET with ${what} is malformedRequest`, async (url, label) => {
      assertRefused(await binaryRequest(url + suffix, { ca: srv.rootPem }), OCSPResponseStatus.malformedRequest, `${label}: GET ${url}${suffix}`);
    });
  }

  forEachEndpoint('GET of base64 that is not an OCSPRequest is malformedRequest', async (url, label) => {
    assertRefused(await get(url, Buffer.from('garbage garbage garbage')), OCSPResponseStatus.malformedRequest, label);
  });
});

describe('OCSP CertIDs the responder does not serve (RFC 6960 §2.3, RFC 5019 §2.2.3)', () => {
  forEachEndpoint('a CertID of an unknown issuer (random hashes) is unauthorized', async (url, label) => {
    for (const hash of ['sha1', 'sha256'] as const) {
      const size = hash === 'sha1' ? 20 : 32;
      const id = certIdOf(leaf, intermediate, { hash, nameHash: randomBytes(size), keyHash: randomBytes(size) });
      assertRefused(await post(url, ocspRequest([id])), OCSPResponseStatus.unauthorized, `${label} ${hash} POST`);
      assertRefused(await get(url, ocspRequest([id])), OCSPResponseStatus.unauthorized, `${label} ${hash} GET`);
    }
  });

  forEachEndpoint('a CertID of the known issuer with an unknown serial is a signed successful response with certStatus unknown', async (url, label) => {
    for (const hash of ['sha1', 'sha256'] as const) {
      const serial = Buffer.concat([Buffer.from([0x11]), randomBytes(15)]);
      const { single } = assertSingle(await post(url, ocspRequest([certIdOf(null, intermediate, { hash, serial })])), `${label} ${hash}`);
      assert.equal(single.status, 'unknown', `${label} ${hash}: certStatus`);
      assert.equal(single.serialHex, serial.toString('hex'), `${label} ${hash}: the CertID is echoed`);
    }
  });
});

describe('OCSP requests answered (RFC 6960 §4.2, RFC 8954)', () => {
  forEachEndpoint('the issued certificate is good for SHA-1 and SHA-256 CertIDs, which are echoed', async (url, label) => {
    for (const hash of ['sha1', 'sha256'] as const) {
      const { single } = assertSingle(await post(url, ocspRequest([certIdOf(leaf, intermediate, { hash })])), `${label} ${hash}`);
      assert.equal(single.status, 'good', `${label} ${hash}`);
      assert.equal(single.serialHex, Buffer.from(serialBytes(leaf)).toString('hex'), `${label} ${hash}: serial`);
      assert.equal(single.hashOid, hash === 'sha1' ? '1.3.14.3.2.26' : '2.16.840.1.101.3.4.2.1', `${label}: the CertID hash algorithm is echoed`);
      assert.ok(single.nextUpdate && single.nextUpdate > single.thisUpdate, `${label}: nextUpdate after thisUpdate (RFC 5019 §2.2.4)`);
    }
  });

  forEachEndpoint('a nonce of 32 bytes (and of 16) is echoed byte for byte in a signed response', async (url, label) => {
    for (const size of [32, 16]) {
      const nonce = randomBytes(size);
      const { single, basic } = assertSingle(await post(url, ocspRequest([certIdOf(leaf, intermediate)], { nonce })), `${label}: nonce ${size}`);
      assert.equal(single.status, 'good');
      assert.ok(basic.nonce, `${label}: the response carries the nonce extension`);
      assert.equal(Buffer.from(basic.nonce).toString('hex'), nonce.toString('hex'), `${label}: the nonce is echoed`);
      assert.equal(Buffer.from(basic.nonceExtnValue!).toString('hex'), Buffer.from(nonceExtension(nonce).extnValue.buffer).toString('hex'));
    }
  });

  forEachEndpoint('two CertIDs of the same issuer get two SingleResponses', async (url, label) => {
    const unknownSerial = Buffer.concat([Buffer.from([0x22]), randomBytes(15)]);
    const res = await post(url, ocspRequest([certIdOf(leaf, intermediate), certIdOf(null, intermediate, { serial: unknownSerial })]));
    const parsed = ocspAnswer(res, label);
    assert.equal(parsed.responseStatus, OCSPResponseStatus.successful);
    assert.ok(parsed.basic?.signatureValid, `${label}: signature`);
    assert.deepEqual(
      parsed.basic.singles.map((s) => [s.serialHex, s.status]),
      [
        [Buffer.from(serialBytes(leaf)).toString('hex'), 'good'],
        [unknownSerial.toString('hex'), 'unknown'],
      ],
    );
  });

  forEachEndpoint('a nonce request extension marked critical is still a nonce and is echoed', async (url, label) => {
    const nonce = randomBytes(20);
    const der = ocspRequest([certIdOf(leaf, intermediate)], { extensions: [nonceExtension(nonce, true)] });
    const { basic } = assertSingle(await post(url, der), label);
    assert.equal(Buffer.from(basic.nonce ?? []).toString('hex'), nonce.toString('hex'));
  });
});
