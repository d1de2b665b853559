/**
 * Interop: revocation as real clients and a real relying party see it. certbot and lego get
 * certificates from a running Anvil process and revoke them through the client; openssl is the
 * judge: `openssl ocsp` (signature verified, status and reason, SHA-1 and SHA-256 CertIDs, with
 * and without a nonce, and the GET form with its RFC 5019 caching headers), `openssl crl -text`
 * (Issuing Distribution Point, CRL Number, reason) and `openssl verify -crl_check` (a revoked
 * certificate is refused; a sibling on the same shard verifies; the shard's scope is enforced).
 * acme-client revokes too, and OCSP must say `revoked` the moment revokeCertificate returns.
 * keyCompromise must block the key: certbot's renewal with --reuse-key is refused (badPublicKey).
 */
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import acme from 'acme-client';
import type { JWK } from 'jose';
import { assertProblem } from '../helpers/acme-assert.js';
import { dns, issue, makeCsr, pemBlocks, readyOrder, uniqueName } from '../helpers/acme-flow.js';
import { fetchCrl, waitForCrl } from '../helpers/crl-reader.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { opensslCrlText, opensslOcsp, opensslOcspRespin, opensslVerifyWithCrl, type OcspRun } from '../helpers/openssl-revocation.js';
import { parseOcspResponse, requestNonce } from '../helpers/ocsp-wire.js';
import { RawAcme, type AccountKey } from '../helpers/raw-acme.js';
import { binaryRequest, ocspCacheHeaderProblems, ocspGetUrl, revocationUrlsOf, type RevocationUrls } from '../helpers/revocation-http.js';
import { certbotIn, legoHttp, runLego, standaloneCertonly, type Certbot } from './clients.js';
import { failureReport, fileTail, freePort, opensslVerify, readText, requireTool, run, type AcmeServer, type RunResult } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const SHARDS = 4;
const DELAY_MS = 1_000;
/** "Within --crl-revocation-delay", with room for one publication and polling. */
const PUBLISH_BOUND_MS = DELAY_MS + 4_000;
/** Bound on issuing certificates until one shares a shard with the revoked one (P(miss) = 0.75^40). */
const MAX_SIBLING_TRIES = 40;
const skip = requireTool('certbot') || requireTool('lego') || requireTool('openssl');

/** A certificate on disk, as openssl wants it: leaf and intermediate in their own PEM files. */
interface CertFiles {
  name: string;
  leafPath: string;
  intermediatePath: string;
  leafPem: string;
  /** Upper-case hex, as openssl prints it. */
  serialUpper: string;
  /** Lower-case hex of the INTEGER content, as CRL entries are keyed by crl-reader. */
  serial: string;
  urls: RevocationUrls;
}

describe('revocation: certbot, lego and acme-client revoke; openssl judges OCSP and CRLs', { skip, timeout: 600_000 }, () => {
  let stack: InteropStack | undefined;
  let server: AcmeServer | undefined;
  let certbot: Certbot;
  let work = '';
  let files = '';
  let http01Port = 0;
  let revocationBase = '';
  let rootPath = '';
  let rootPem = '';

  let certbotCert: CertFiles | undefined;
  let legoCert: CertFiles | undefined;
  /** Same issuer and CRL shard as certbotCert, not revoked. */
  let sibling: CertFiles | undefined;
  /** Same issuer, another shard, not revoked. */
  let otherShard: CertFiles | undefined;

  async function lego(domain: string, verb: string[]): Promise<RunResult> {
    return runLego(server!, { email: 'revocation@example.test', path: path.join(work, 'lego') }, ['--domains', domain, ...legoHttp(http01Port), ...verb]);
  }

  /** Splits a chain into `<name>.leaf.pem` and `<name>.intermediate.pem` and checks it verifies. */
  async function saveChain(name: string, chainPem: string): Promise<CertFiles> {
    const [leaf, intermediate] = pemBlocks(chainPem).map((p) => `${p}\n`);
    assert.ok(leaf && intermediate, `${name}: chain of leaf + intermediate, got:\n${chainPem}`);
    const leafPath = path.join(files, `${name}.leaf.pem`);
    const intermediatePath = path.join(files, `${name}.intermediate.pem`);
    await writeFile(leafPath, leaf);
    await writeFile(intermediatePath, intermediate);
    const verify = await opensslVerify(rootPath, intermediatePath, leafPath);
    assert.ok(verify.ok, verify.output);
    const x = new X509Certificate(leaf);
    const hex = x.serialNumber.toLowerCase();
    const urls = revocationUrlsOf(leaf);
    assert.ok(urls.ocsp.startsWith(revocationBase) && urls.crl.startsWith(revocationBase), `${name}: revocation URLs name the revocation listener: ${JSON.stringify(urls)}`);
    return { name, leafPath, intermediatePath, leafPem: leaf, serialUpper: x.serialNumber.toUpperCase(), serial: hex.length % 2 ? `0${hex}` : hex, urls };
  }

  /** `openssl ocsp` for a certificate against its own AIA URL. */
  function ocsp(cert: CertFiles, o: { before?: string[]; after?: string[] } = {}): Promise<OcspRun> {
    return opensslOcsp({ issuerPath: cert.intermediatePath, certPath: cert.leafPath, url: cert.urls.ocsp, rootPath, ...o });
  }

  function assertOcsp(r: OcspRun, status: string, reason?: string): void {
    assert.equal(r.result.code, 0, r.output);
    assert.ok(r.verified, `openssl must print "Response verify OK"\n${r.output}`);
    assert.equal(r.status, status, r.output);
    if (reason !== undefined) assert.equal(r.reason, reason, r.output);
    assert.equal(r.nonceProblem, undefined, r.output);
  }

  /** Raw ACME for sibling issuance and the key-block check; its http-01 answers need the port, which certbot/lego also bind. */
  async function withResponder<T>(fn: (raw: RawAcme, responder: Http01Responder) => Promise<T>): Promise<T> {
    const responder = await startHttp01Responder(http01Port);
    try {
      const raw = await new RawAcme(server!.directoryUrl, rootPem).init();
      await raw.register();
      return await fn(raw, responder);
    } finally {
      await responder.close();
    }
  }

  before(async () => {
    stack = await openStack('anvil-interop-revocation-');
    ({ work, http01Port } = stack);
    files = path.join(work, 'files');
    await mkdir(files, { recursive: true });
    const revocationPort = await freePort();
    revocationBase = `http://127.0.0.1:${revocationPort}`;
    ({ server, rootPem } = await stack.start({
      extraArgs: ['--revocation-listen', `127.0.0.1:${revocationPort}`, '--crl-revocation-delay', '1s', '--crl-shards', String(SHARDS)],
    }));
    rootPath = server.rootPemPath;
    certbot = certbotIn(path.join(work, 'certbot'), server);
  });

  after(() => stack?.close());

  it('certbot gets a certificate; openssl ocsp (with its default nonce) says good and verifies the response', async () => {
    const result = await certbot.run(standaloneCertonly(http01Port, ['revoke-me.test']));
    assert.equal(result.code, 0, failureReport(result, server!, await fileTail(certbot.lastLog)));
    certbotCert = await saveChain('certbot', await readText(path.join(certbot.configDir, 'live', 'revoke-me.test', 'fullchain.pem')));
    assertOcsp(await ocsp(certbotCert), 'good');
  });

  it('certbot revoke --reason keycompromise: openssl ocsp at once says revoked, Reason keyCompromise (pre-signed, SHA-256 and nonce paths)', async () => {
    assert.ok(certbotCert, 'needs the certbot certificate');
    const result = await certbot.run(['revoke', '--cert-path', certbotCert.leafPath, '--reason', 'keycompromise', '--no-delete-after-revoke']);
    assert.equal(result.code, 0, failureReport(result, server!, await fileTail(certbot.lastLog)));
    assertOcsp(await ocsp(certbotCert, { after: ['-no_nonce'] }), 'revoked', 'keyCompromise');
    assertOcsp(await ocsp(certbotCert, { after: ['-nonce'] }), 'revoked', 'keyCompromise');
    const sha256 = await ocsp(certbotCert, { before: ['-sha256'], after: ['-no_nonce', '-resp_text'] });
    assertOcsp(sha256, 'revoked', 'keyCompromise');
    assert.match(sha256.result.stdout, /Hash Algorithm: sha256/, `the response's CertID uses SHA-256\n${sha256.output}`);
  });

  it('keyCompromise blocks the key: certbot renew --reuse-key is refused with badPublicKey', async () => {
    assert.ok(certbotCert, 'needs the revoked certbot certificate');
    const result = await certbot.run(['renew', '--force-renewal', '--reuse-key', '--no-random-sleep-on-renew', '--cert-name', 'revoke-me.test'], false);
    assert.notEqual(result.code, 0, `renewing with the compromised key must fail\n${failureReport(result, server!)}`);
    const log = await readText(certbot.lastLog);
    assert.match(`${result.stdout}\n${result.stderr}\n${log}`, /urn:ietf:params:acme:error:badPublicKey/, failureReport(result, server!, await fileTail(certbot.lastLog)));
  });

  it('keyCompromise blocks the key for any account: a raw finalize with certbot\'s key is badPublicKey', async () => {
    assert.ok(certbotCert, 'needs the revoked certbot certificate');
    const keyPem = await readFile(path.join(certbot.configDir, 'live', 'revoke-me.test', 'privkey.pem'), 'utf8');
    const privateKey = createPrivateKey(keyPem);
    const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
    assert.equal(jwk.kty, 'EC', 'certbot 2.x makes P-256 keys by default');
    const key: AccountKey = { privateKey, jwk, alg: jwk.crv === 'P-384' ? 'ES384' : 'ES256' };
    await withResponder(async (raw, responder) => {
      const name = uniqueName('reuse');
      const { order } = await readyOrder(raw, responder, dns(name));
      const { csr } = await makeCsr([name], { key });
      assertProblem(await raw.post(order.finalize, { csr }), 400, 'badPublicKey', server!.directoryUrl);
    });
  });

  it('lego gets a certificate and revokes it with --reason 4: openssl ocsp says revoked, Reason superseded', async () => {
    const issued = await lego('lego-revoked.test', ['run']);
    assert.equal(issued.code, 0, failureReport(issued, server!));
    legoCert = await saveChain('lego', await readText(path.join(work, 'lego', 'certificates', 'lego-revoked.test.crt')));
    assertOcsp(await ocsp(legoCert, { after: ['-no_nonce'] }), 'good');
    const revoked = await lego('lego-revoked.test', ['revoke', '--reason', '4', '--keep']);
    assert.equal(revoked.code, 0, failureReport(revoked, server!));
    assertOcsp(await ocsp(legoCert, { after: ['-no_nonce'] }), 'revoked', 'superseded');
    assertOcsp(await ocsp(legoCert), 'revoked', 'superseded');
  });

  it('acme-client revokeCertificate(keyCompromise): OCSP is revoked the moment the call returns', async () => {
    await withResponder(async (_raw, responder) => {
      acme.axios.defaults.httpsAgent = new https.Agent({ ca: rootPem });
      acme.axios.defaults.proxy = false;
      const client = new acme.Client({ directoryUrl: server!.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey('P-256'), backoffAttempts: 40, backoffMin: 100, backoffMax: 1_000 });
      const key = await acme.crypto.createPrivateEcdsaKey('P-256');
      const [, csr] = await acme.crypto.createCsr({ commonName: 'acme-client-revoked.test', altNames: ['acme-client-revoked.test'] }, key);
      const chain = await client.auto({
        csr,
        termsOfServiceAgreed: true,
        skipChallengeVerification: true,
        challengePriority: ['http-01'],
        challengeCreateFn: async (_a, challenge, keyAuthorization) => responder.set(challenge.token, keyAuthorization),
        challengeRemoveFn: async (_a, challenge) => responder.delete(challenge.token),
      });
      const cert = await saveChain('acme-client', chain);
      assertOcsp(await ocsp(cert, { after: ['-no_nonce'] }), 'good');
      await client.revokeCertificate(pemBlocks(chain)[0]!, { reason: 1 });
      assertOcsp(await ocsp(cert, { after: ['-no_nonce'] }), 'revoked', 'keyCompromise');
    });
  });

  it('siblings: certificates from the same issuer, one on the revoked certificate\'s CRL shard and one on another shard', async () => {
    assert.ok(certbotCert, 'needs the certbot certificate');
    await withResponder(async (raw, responder) => {
      for (let i = 0; i < MAX_SIBLING_TRIES && !(sibling && otherShard); i++) {
        const issued = await issue(raw, responder, [uniqueName('sib')]);
        const urls = revocationUrlsOf(pemBlocks(issued.chainPem)[0]!);
        assert.equal(urls.issuerId, certbotCert!.urls.issuerId, 'one issuer');
        if (!sibling && urls.shard === certbotCert!.urls.shard) sibling = await saveChain('sibling', issued.chainPem);
        else if (!otherShard && urls.shard !== certbotCert!.urls.shard) otherShard = await saveChain('other-shard', issued.chainPem);
      }
    });
    assert.ok(sibling, `no certificate landed on shard ${certbotCert.urls.shard} in ${MAX_SIBLING_TRIES} tries`);
    assert.ok(otherShard, 'no certificate landed on another shard');
    assert.equal(sibling.urls.crl, certbotCert.urls.crl, 'the sibling\'s CDP is the revoked certificate\'s shard URL');
  });

  it('openssl ocsp: the sibling is good with a SHA-1 CertID and no nonce (pre-signed), a SHA-256 CertID, and a nonce', async () => {
    assert.ok(sibling, 'needs the sibling');
    assertOcsp(await ocsp(sibling, { after: ['-no_nonce'] }), 'good');
    const sha256 = await ocsp(sibling, { before: ['-sha256'], after: ['-no_nonce', '-resp_text'] });
    assertOcsp(sha256, 'good');
    assert.match(sha256.result.stdout, /Hash Algorithm: sha256/, sha256.output);
    assert.doesNotMatch(sha256.result.stdout, /OCSP Nonce/, 'no nonce asked, none answered');
  });

  it('openssl ocsp -nonce: the nonce is echoed byte for byte and openssl checks it', async () => {
    assert.ok(sibling, 'needs the sibling');
    const reqPath = path.join(files, 'nonce-req.der');
    const respPath = path.join(files, 'nonce-resp.der');
    const r = await ocsp(sibling, { after: ['-nonce', '-reqout', reqPath, '-respout', respPath] });
    assertOcsp(r, 'good');
    const sent = requestNonce(await readFile(reqPath));
    assert.ok(sent && sent.length > 0, 'openssl sent a nonce');
    const parsed = parseOcspResponse(await readFile(respPath));
    assert.ok(parsed.basic?.nonce, 'the response carries a nonce');
    assert.equal(Buffer.from(parsed.basic.nonce).toString('hex'), Buffer.from(sent).toString('hex'));
  });

  for (const which of ['sibling', 'certbot'] as const) {
    it(`GET ${which === 'sibling' ? '(good)' : '(revoked)'}: /ocsp/<url-encoded base64 of openssl's -reqout>, RFC 5019 caching headers match thisUpdate/nextUpdate, openssl verifies the body`, async () => {
      const cert = which === 'sibling' ? sibling : certbotCert;
      assert.ok(cert, 'needs the certificates of the earlier tests');
      const reqPath = path.join(files, `${which}-get-req.der`);
      const made = await run('openssl', ['ocsp', '-issuer', cert.intermediatePath, '-cert', cert.leafPath, '-no_nonce', '-reqout', reqPath], { timeoutMs: 20_000 });
      assert.equal(made.code, 0, made.stderr);
      const url = ocspGetUrl(cert.urls.ocsp, await readFile(reqPath));
      const res = await binaryRequest(url);
      assert.equal(res.status, 200, `GET ${url}: ${res.status}`);
      assert.equal(String(res.headers['content-type']).split(';')[0], 'application/ocsp-response');
      const parsed = parseOcspResponse(res.body);
      const single = parsed.basic?.singles[0];
      assert.ok(single?.nextUpdate, 'a successful response with nextUpdate');
      assert.deepEqual(ocspCacheHeaderProblems(res, single.thisUpdate, single.nextUpdate), [], `headers: ${JSON.stringify(res.headers)}`);
      const respPath = path.join(files, `${which}-get-resp.der`);
      await writeFile(respPath, res.body);
      const judged = await opensslOcspRespin(respPath, { issuerPath: cert.intermediatePath, certPath: cert.leafPath, rootPath });
      assertOcsp(judged, which === 'sibling' ? 'good' : 'revoked', which === 'sibling' ? undefined : 'keyCompromise');
    });
  }

  it('openssl crl -text of the shard CRL: critical Issuing Distribution Point with the shard URL, CRL Number, the serial with Key Compromise', async () => {
    assert.ok(certbotCert, 'needs the certbot certificate');
    const { der } = await waitForCrl(certbotCert.urls.crl, (c) => c.entries.has(certbotCert!.serial), PUBLISH_BOUND_MS);
    const derPath = path.join(files, 'shard.crl');
    await writeFile(derPath, der);
    const text = await opensslCrlText(derPath);
    assert.match(text, /X509v3 Issuing Distribution Point: critical/, text);
    assert.ok(text.includes(`URI:${certbotCert.urls.crl}`), `IDP names ${certbotCert.urls.crl}\n${text}`);
    assert.match(text, /Only User Certificates/, text);
    assert.match(text, /X509v3 CRL Number: *\n\s+\d+/, text);
    assert.match(text, /Version 2/, text);
    const entry = new RegExp(`Serial Number: ${certbotCert.serialUpper}\\s*\\n\\s+Revocation Date: [^\\n]+\\n\\s+CRL entry extensions:\\s*\\n\\s+X509v3 CRL Reason Code: *\\n\\s+Key Compromise`);
    assert.match(text, entry, text);
  });

  it('openssl crl -text of the full CRL: no Issuing Distribution Point; the certbot (Key Compromise) and lego (Superseded) serials', async () => {
    assert.ok(certbotCert && legoCert, 'needs the revoked certificates');
    const { der } = await waitForCrl(certbotCert.urls.fullCrl, (c) => c.entries.has(certbotCert!.serial) && c.entries.has(legoCert!.serial), PUBLISH_BOUND_MS);
    const derPath = path.join(files, 'full.crl');
    await writeFile(derPath, der);
    const text = await opensslCrlText(derPath);
    assert.doesNotMatch(text, /Issuing Distribution Point/, text);
    assert.match(text, /X509v3 CRL Number/, text);
    assert.match(text, new RegExp(`Serial Number: ${certbotCert.serialUpper}[\\s\\S]+?Key Compromise`), text);
    assert.match(text, new RegExp(`Serial Number: ${legoCert.serialUpper}[\\s\\S]+?Superseded`), text);
  });

  it('openssl verify -crl_check with the shard CRL: the revoked certificate is refused, its sibling verifies, a certificate of another shard is out of scope', async () => {
    assert.ok(certbotCert && sibling && otherShard, 'needs the certificates of the earlier tests');
    const { der } = await waitForCrl(certbotCert.urls.crl, (c) => c.entries.has(certbotCert!.serial), PUBLISH_BOUND_MS);
    const revoked = await opensslVerifyWithCrl(files, rootPath, certbotCert.intermediatePath, certbotCert.leafPath, der, 'shard');
    assert.equal(revoked.ok, false, revoked.output);
    assert.match(revoked.error ?? '', /certificate revoked/, revoked.output);
    const good = await opensslVerifyWithCrl(files, rootPath, sibling.intermediatePath, sibling.leafPath, der, 'shard');
    assert.ok(good.ok, `the non-revoked sibling on the same shard verifies\n${good.output}`);
    // The critical IDP limits the shard CRL to certificates whose CDP names it (RFC 5280 §5.2.5).
    const outOfScope = await opensslVerifyWithCrl(files, rootPath, otherShard.intermediatePath, otherShard.leafPath, der, 'shard');
    assert.equal(outOfScope.ok, false, `a shard CRL must not vouch for a certificate of another shard\n${outOfScope.output}`);
    assert.match(outOfScope.error ?? '', /different CRL scope|unable to get certificate CRL/, outOfScope.output);
  });

  it('openssl verify -crl_check with the full CRL: both client-revoked certificates are refused, the others verify', async () => {
    assert.ok(certbotCert && legoCert && sibling && otherShard, 'needs the certificates of the earlier tests');
    const { der } = await fetchCrl(certbotCert.urls.fullCrl);
    for (const cert of [certbotCert, legoCert]) {
      const r = await opensslVerifyWithCrl(files, rootPath, cert.intermediatePath, cert.leafPath, der, 'full');
      assert.equal(r.ok, false, r.output);
      assert.match(r.error ?? '', /certificate revoked/, r.output);
    }
    for (const cert of [sibling, otherShard]) {
      const r = await opensslVerifyWithCrl(files, rootPath, cert.intermediatePath, cert.leafPath, der, 'full');
      assert.ok(r.ok, `${cert.name}\n${r.output}`);
    }
  });
});
