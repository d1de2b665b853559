/**
 * What a relying party sees after revokeCert (RFC 8555 §7.6) returns: OCSP already answers
 * `revoked` with the reason — pre-signed path, SHA-256 CertIDs, nonces and GET alike — and the
 * shard and full CRLs list the serial within --crl-revocation-delay. A keyCompromise revocation
 * blocks the public key for later CSRs; other reasons do not.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertOk, assertProblem } from '../helpers/acme-assert.js';
import { startAcmeFixture, type AcmeFixture } from '../helpers/acme-fixture.js';
import { issue, makeCsr, pemBlocks, pemToBase64url, readyOrder, dns, uniqueName, type Issued } from '../helpers/acme-flow.js';
import { fetchCrl, serialHexOf, waitForCrl } from '../helpers/crl-reader.js';
import type { Http01Responder } from '../helpers/http01-responder.js';
import { certIdOf, ocspRequest, OCSPResponseStatus, parseOcspResponse, type HashName, type ParsedSingle } from '../helpers/ocsp-wire.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { ocspGet, ocspPost, revocationUrlsOf, type BinaryResponse } from '../helpers/revocation-http.js';
import type { TestServer } from '../helpers/test-server.js';
import { freePort } from '../interop/harness.js';

const DELAY_MS = 1_000;
const PUBLISH_BOUND_MS = DELAY_MS + 3_000;

let fx: AcmeFixture;
let responder: Http01Responder;
let srv: TestServer;
let acme: RawAcme;

before(async () => {
  fx = await startAcmeFixture({
    '--revocation-listen': `127.0.0.1:${await freePort()}`,
    '--crl-shards': '4',
    '--crl-revocation-delay': '1s',
  });
  ({ responder, srv, acme } = fx);
});

after(() => fx?.close());

interface Cert {
  issued: Issued;
  leaf: string;
  intermediate: string;
  serial: string;
}

async function newCert(): Promise<Cert> {
  const issued = await issue(acme, responder, [uniqueName('cons')]);
  const [leaf, intermediate] = pemBlocks(issued.chainPem).map((p) => `${p}\n`) as [string, string];
  return { issued, leaf, intermediate, serial: serialHexOf(leaf) };
}

/** The single status of a successful, signed OCSP answer. */
function singleOf(res: BinaryResponse, what: string): ParsedSingle {
  assert.equal(res.status, 200, what);
  const parsed = parseOcspResponse(res.body);
  assert.equal(parsed.responseStatus, OCSPResponseStatus.successful, `${what}: ${OCSPResponseStatus[parsed.responseStatus]}`);
  assert.ok(parsed.basic?.signatureValid, `${what}: signature verifies`);
  return parsed.basic.singles[0]!;
}

async function ocspStatus(cert: Cert, how: { hash?: HashName; nonce?: boolean; get?: boolean } = {}): Promise<ParsedSingle> {
  const url = revocationUrlsOf(cert.leaf).ocsp;
  const der = ocspRequest([certIdOf(cert.leaf, cert.intermediate, { hash: how.hash ?? 'sha1' })], how.nonce ? { nonce: Buffer.alloc(32, 7) } : {});
  const res = how.get ? await ocspGet(url, der) : await ocspPost(url, der);
  return singleOf(res, `OCSP ${how.get ? 'GET' : 'POST'} ${how.hash ?? 'sha1'}${how.nonce ? ' +nonce' : ''}`);
}

const ALL_WAYS = [{}, { get: true }, { hash: 'sha256' as const }, { nonce: true }, { hash: 'sha256' as const, get: true }];

describe('OCSP right after revokeCert returns', () => {
  test('good before; revoked (keyCompromise, time of revocation) on every request form as soon as revokeCert answered 200', async () => {
    const cert = await newCert();
    // Read the good answer on every path first, so a stale cached or pre-signed `good` would show.
    for (const how of ALL_WAYS) assert.equal((await ocspStatus(cert, how)).status, 'good', `before: ${JSON.stringify(how)}`);
    const before = Math.floor(Date.now() / 1000) * 1000;
    assertOk(await acme.post(acme.directory.revokeCert, { certificate: pemToBase64url(cert.leaf), reason: 1 }), 200, srv.directoryUrl);
    for (const how of ALL_WAYS) {
      const single = await ocspStatus(cert, how);
      assert.equal(single.status, 'revoked', `after: ${JSON.stringify(how)}`);
      assert.equal(single.reason, 1, `after: ${JSON.stringify(how)}: revocationReason keyCompromise`);
      assert.ok(single.revocationTime && single.revocationTime.getTime() >= before && single.revocationTime.getTime() <= Date.now(), `revocationTime ${single.revocationTime?.toISOString()}`);
      assert.ok(single.thisUpdate.getTime() >= before - 1000, `after: ${JSON.stringify(how)}: thisUpdate ${single.thisUpdate.toISOString()} is not older than the revocation`);
    }
  });

  test('a revocation by the certificate key (jwk) with reason superseded is answered revoked (superseded) at once', async () => {
    const cert = await newCert();
    assert.equal((await ocspStatus(cert)).status, 'good');
    const res = await acme.post(acme.directory.revokeCert, { certificate: pemToBase64url(cert.leaf), reason: 4 }, { key: cert.issued.key, useJwk: true });
    assertOk(res, 200, srv.directoryUrl);
    const single = await ocspStatus(cert);
    assert.equal(single.status, 'revoked');
    assert.equal(single.reason, 4);
  });

  test('reason unspecified: revoked without a revocationReason (RFC 5280 §5.3.1)', async () => {
    const cert = await newCert();
    assertOk(await acme.post(acme.directory.revokeCert, { certificate: pemToBase64url(cert.leaf) }), 200, srv.directoryUrl);
    const single = await ocspStatus(cert);
    assert.equal(single.status, 'revoked');
    assert.equal(single.reason, undefined);
  });
});

describe('CRLs within --crl-revocation-delay of revokeCert', () => {
  test('the shard CRL and the full CRL list the serial with its reason, and their CRL numbers grew', async () => {
    const cert = await newCert();
    const urls = revocationUrlsOf(cert.leaf);
    const shardBefore = (await fetchCrl(urls.crl)).crl;
    const fullBefore = (await fetchCrl(urls.fullCrl)).crl;
    assert.ok(!shardBefore.entries.has(cert.serial));
    assertOk(await acme.post(acme.directory.revokeCert, { certificate: pemToBase64url(cert.leaf), reason: 1 }), 200, srv.directoryUrl);
    const shard = await waitForCrl(urls.crl, (c) => c.entries.has(cert.serial), PUBLISH_BOUND_MS);
    const full = await waitForCrl(urls.fullCrl, (c) => c.entries.has(cert.serial), PUBLISH_BOUND_MS);
    assert.equal(shard.crl.entries.get(cert.serial)!.reason, 1);
    assert.equal(full.crl.entries.get(cert.serial)!.reason, 1);
    assert.ok(shard.crl.number! > shardBefore.number!, `shard CRL number ${shardBefore.number} → ${shard.crl.number}`);
    assert.ok(full.crl.number! > fullBefore.number!, `full CRL number ${fullBefore.number} → ${full.crl.number}`);
  });
});

describe('keyCompromise blocks the key (RFC 8555 §7.6)', () => {
  test('after a keyCompromise revocation, a CSR with the same public key is refused with badPublicKey', async () => {
    const cert = await newCert();
    assertOk(await acme.post(acme.directory.revokeCert, { certificate: pemToBase64url(cert.leaf), reason: 1 }), 200, srv.directoryUrl);
    const name = uniqueName('blk');
    const { order } = await readyOrder(acme, responder, dns(name));
    const { csr } = await makeCsr([name], { key: cert.issued.key });
    assertProblem(await acme.post(order.finalize, { csr }), 400, 'badPublicKey', srv.directoryUrl);
  });

  test('the block holds for another account too', async () => {
    const cert = await newCert();
    assertOk(await acme.post(acme.directory.revokeCert, { certificate: pemToBase64url(cert.leaf), reason: 1 }, { key: cert.issued.key, useJwk: true }), 200, srv.directoryUrl);
    const other = await new RawAcme(srv.directoryUrl, srv.rootPem).init();
    await other.register();
    const name = uniqueName('blk2');
    const { order } = await readyOrder(other, responder, dns(name));
    const { csr } = await makeCsr([name], { key: cert.issued.key });
    assertProblem(await other.post(order.finalize, { csr }), 400, 'badPublicKey', srv.directoryUrl);
  });

  test('a revocation for superseded does not block the key: a new certificate for it is issued', async () => {
    const cert = await newCert();
    assertOk(await acme.post(acme.directory.revokeCert, { certificate: pemToBase64url(cert.leaf), reason: 4 }), 200, srv.directoryUrl);
    const name = uniqueName('nblk');
    const { order } = await readyOrder(acme, responder, dns(name));
    const { csr } = await makeCsr([name], { key: cert.issued.key });
    assertOk(await acme.post(order.finalize, { csr }), 200, srv.directoryUrl);
  });
});
