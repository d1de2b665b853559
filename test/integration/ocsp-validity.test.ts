/**
 * Relying parties accept what Anvil serves (issue 16 item 1). An OCSP answer never claims validity
 * past the certificate's notAfter — pre-signed, on demand (nonce, SHA-256 CertID) and revoked —
 * because stapling web servers refuse such answers, and with the default settings (24 h
 * certificates, 24 h OCSP lifetime) that was every answer. Certificates carry http:// OCSP and CRL
 * URLs served by the plain-HTTP revocation listener, which is on by default. An answer already valid
 * until notAfter is final: the refresher does not re-sign it on every pass.
 */
import assert from 'node:assert/strict';
import { X509Certificate, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { startAcmeFixture, type AcmeFixture } from '../helpers/acme-fixture.js';
import { answerHttp01, dns, finalizeOrder, issue, makeCsr, newOrder, pemBlocks, pemToBase64url, poll, pollSettled, uniqueName } from '../helpers/acme-flow.js';
import { certIdOf, ocspRequest, parseOcspResponse, type ParsedSingle } from '../helpers/ocsp-wire.js';
import { binaryRequest, ocspPost, revocationUrlsOf } from '../helpers/revocation-http.js';

let fx: AcmeFixture;
let leaf = '';
let issuer = '';

before(async () => {
  // The issue's case: 24 h certificates (the default profile) with 24 h OCSP answers.
  fx = await startAcmeFixture({ '--ocsp-response-lifetime': '24h' });
  [leaf, issuer] = pemBlocks((await issue(fx.acme, fx.responder, [uniqueName('ocspvalid')])).chainPem) as [string, string];
});
after(() => fx?.close());

const notAfterOf = (pem: string) => new Date(new X509Certificate(pem).validTo);

async function single(pem: string, options: { nonce?: boolean; hash?: 'sha1' | 'sha256' } = {}): Promise<ParsedSingle> {
  const der = ocspRequest([certIdOf(pem, issuer, { hash: options.hash ?? 'sha1' })], options.nonce ? { nonce: randomBytes(16) } : {});
  const res = await ocspPost(revocationUrlsOf(pem).ocsp, der);
  const parsed = parseOcspResponse(res.body);
  assert.ok(parsed.basic?.signatureValid, 'a signed answer');
  return parsed.basic!.singles[0]!;
}

function assertWithinLife(s: ParsedSingle, pem: string, what: string): void {
  assert.ok(s.nextUpdate, `${what}: nextUpdate is present for a certificate that has not expired`);
  assert.ok(s.nextUpdate <= notAfterOf(pem), `${what}: nextUpdate ${s.nextUpdate.toISOString()} must not be after notAfter ${notAfterOf(pem).toISOString()}`);
  assert.ok(s.nextUpdate > s.thisUpdate, `${what}: nextUpdate after thisUpdate`);
}

describe('OCSP nextUpdate ≤ the certificate\'s notAfter', () => {
  test('by default certificates carry http:// OCSP and CRL URLs of the plain-HTTP revocation listener, which answers', async () => {
    const defaults = loadConfig({ flags: {}, env: {} });
    assert.deepEqual(defaults.revocationListen, { host: '127.0.0.1', port: 8080 }, 'the revocation listener is on by default');
    const urls = revocationUrlsOf(leaf);
    assert.match(urls.ocsp, /^http:\/\/127\.0\.0\.1:\d+\/ocsp$/);
    assert.match(urls.crl!, /^http:\/\/127\.0\.0\.1:\d+\/crl\//);
    assert.notEqual(new URL(urls.ocsp).port, new URL(fx.srv.baseUrl).port, 'not the ACME listener');
    assert.equal((await binaryRequest(urls.crl!)).status, 200, 'the CRL is served over plain HTTP');
  });

  test('pre-signed, nonce and SHA-256 answers of a 24 h certificate (24 h OCSP lifetime) end at or before notAfter', async () => {
    assertWithinLife(await single(leaf), leaf, 'pre-signed');
    assertWithinLife(await single(leaf, { nonce: true }), leaf, 'signed with a nonce');
    assertWithinLife(await single(leaf, { hash: 'sha256' }), leaf, 'SHA-256 CertID');
  });

  test('a revoked certificate\'s answer ends at or before notAfter too', async () => {
    const issued = await issue(fx.acme, fx.responder, [uniqueName('ocspvalid-rev')]);
    const pem = pemBlocks(issued.chainPem)[0]!;
    const revoked = await fx.acme.post(fx.acme.directory.revokeCert, { certificate: pemToBase64url(pem), reason: 4 });
    assert.equal(revoked.status, 200, revoked.body);
    const s = await single(pem);
    assert.equal(s.status, 'revoked');
    assertWithinLife(s, pem, 'revoked');
  });

  test('a 90-day certificate keeps the full OCSP lifetime (24 h): only answers that would outlive the certificate are shortened', async () => {
    const s = await single(await issueClassic());
    assert.equal(s.nextUpdate!.getTime() - s.thisUpdate.getTime(), 24 * 3600_000);
  });

  test('an answer valid until notAfter is final: refresher passes do not re-sign it', async () => {
    const ocsp = fx.srv.server.parts.revocation.ocsp;
    await single(leaf);
    const first = await ocsp.refreshDue();
    const second = await ocsp.refreshDue();
    assert.equal(second, 0, `a second pass right after the first finds nothing due (first pass: ${first})`);
  });
});

/** Issues a classic-profile (90 d) certificate and returns its PEM. */
async function issueClassic(): Promise<string> {
  const name = uniqueName('classic');
  const created = await newOrder(fx.acme, dns(name), { profile: 'classic' });
  assert.equal(created.status, 201, created.body);
  const orderUrl = String(created.headers.location);
  for (const authzUrl of created.json.authorizations as string[]) {
    await answerHttp01(fx.acme, fx.responder, authzUrl);
    assert.equal((await pollSettled(fx.acme, authzUrl)).json.status, 'valid');
  }
  const ready = (await poll(fx.acme, orderUrl, (b) => b.status !== 'pending')).json;
  const { csr } = await makeCsr([name]);
  return pemBlocks((await finalizeOrder(fx.acme, orderUrl, ready, csr)).chainPem)[0]!;
}
