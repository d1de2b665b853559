/**
 * Interop: an HSM-backed intermediate on a real PKCS#11 token (SoftHSM2). `anvil init --key-store
 * pkcs11` creates the hierarchy with the intermediate key generated on the token; `anvil serve`
 * then issues through it to lego; openssl judges the chain, the OCSP answers (good, then revoked
 * after `lego revoke`) and the CRL (`openssl verify -crl_check`). The key must be on the token
 * only: the manifest says `pkcs11`, no file in the data directory decrypts to it, and the token
 * refuses to hand out CKA_VALUE (sensitive, never extractable). Finally the key is destroyed under
 * the running server: finalize must answer `serverInternal` with Retry-After at once and leave
 * the order `ready` (README "Settings", signerTimeout), while OCSP keeps answering.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ACME_ERROR } from '../helpers/acme-assert.js';
import { postAsGet, readyOrder, dns, makeCsr, uniqueName, pemBlocks } from '../helpers/acme-flow.js';
import { waitForCrl, serialHexOf } from '../helpers/crl-reader.js';
import { caCertPem, keyFilesFor, privateKeyFiles, readManifestView } from '../helpers/data-dir-scan.js';
import { anvilCli, INTEROP_PASSPHRASE } from '../helpers/eab.js';
import { startHttp01Responder } from '../helpers/http01-responder.js';
import { opensslOcsp, opensslVerifyWithCrl, type OcspRun } from '../helpers/openssl-revocation.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { revocationUrlsOf, type RevocationUrls } from '../helpers/revocation-http.js';
import { createSoftHsm, destroyTokenKey, tokenPrivateKeys, type SoftHsm } from '../helpers/softhsm.js';
import { legoHttp, runLego } from './clients.js';
import { describeRun, failureReport, freePort, opensslVerify, readText, requireTool, type AcmeServer, type RunResult } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const skip = requireTool('softhsm2-util') || requireTool('lego') || requireTool('openssl');
const SIGNER_TIMEOUT_MS = 1_000;

describe('HSM: an intermediate on SoftHSM2 issues to lego; openssl judges chain, OCSP and CRL', { skip, timeout: 120_000 }, () => {
  let work = '';
  let dataDir = '';
  let hsm: SoftHsm;
  let stack: InteropStack | undefined;
  let server: AcmeServer | undefined;
  let http01Port = 0;
  let rootPath = '';
  let rootPem = '';
  let issuer: { id: string; label: string; idHex: string; pem: string } | undefined;
  let leaf: { leafPath: string; intermediatePath: string; urls: RevocationUrls; serialHex: string } | undefined;

  async function lego(domain: string, verb: string[]): Promise<RunResult> {
    return runLego(server!, { email: 'hsm@example.test', path: path.join(work, 'lego'), timeoutMs: 60_000 }, ['--domains', domain, ...legoHttp(http01Port), ...verb]);
  }

  function ocsp(): Promise<OcspRun> {
    return opensslOcsp({ issuerPath: leaf!.intermediatePath, certPath: leaf!.leafPath, url: leaf!.urls.ocsp, rootPath, after: ['-no_nonce'] });
  }

  before(async () => {
    stack = await openStack('anvil-interop-hsm-');
    ({ work, http01Port } = stack);
    dataDir = path.join(work, 'data');
    hsm = await createSoftHsm(path.join(work, 'hsm'));
    const init = await anvilCli(['init', '--data-dir', dataDir, '--key-store', 'pkcs11', ...hsm.args], hsm.env);
    assert.equal(init.code, 0, `anvil init --key-store pkcs11\n${describeRun(init)}`);
    const revocationPort = await freePort();
    ({ server, rootPem } = await stack.start({
      dataDir,
      env: hsm.env,
      extraArgs: [...hsm.args, '--revocation-listen', `127.0.0.1:${revocationPort}`, '--crl-revocation-delay', '1s', '--crl-shards', '2', '--signer-timeout', `${SIGNER_TIMEOUT_MS / 1000}s`],
    }));
    rootPath = server.rootPemPath;
  }, { timeout: 90_000 });

  after(() => stack?.close());

  it('the manifest names a pkcs11 issuer key and no file in the data directory holds it', async () => {
    const manifest = readManifestView(dataDir);
    const active = manifest.issuers.filter((i) => i.status === 'active');
    assert.equal(active.length, 1, JSON.stringify(manifest, null, 2));
    const entry = active[0]!;
    assert.equal(entry.key.kind, 'pkcs11', `the issuer key is on the token: ${JSON.stringify(entry.key)}`);
    assert.ok(entry.key.label && entry.key.id, `the pkcs11 reference has a label and an id: ${JSON.stringify(entry.key)}`);
    assert.equal(entry.key.file, undefined, 'a pkcs11 key reference names no file');
    issuer = { id: entry.id, label: entry.key.label!, idHex: entry.key.id!, pem: caCertPem(dataDir, entry.certFile) };

    // Every private key file present (roots, OCSP responder, TLS) is encrypted, and none is the intermediate's.
    const keys = privateKeyFiles(dataDir);
    assert.ok(keys.length > 0, 'the root keys are files');
    assert.deepEqual(keys.filter((k) => !k.encrypted).map((k) => k.file), [], 'every key file is ENCRYPTED PRIVATE KEY');
    assert.deepEqual(keyFilesFor(dataDir, INTEROP_PASSPHRASE, issuer.pem), [], 'no file in the data directory decrypts to the intermediate key');
    // (ca/ocsp/<issuer>.key.pem is the delegated OCSP responder's own key, not the issuer's.)
    const issuerKeyFiles = [`${issuer.id}.key.pem`, `${issuer.label}.key.pem`].map((f) => path.join(dataDir, 'ca', f));
    assert.deepEqual(keys.filter((k) => issuerKeyFiles.includes(k.file)).map((k) => k.file), [], 'no ca/<issuer>.key.pem file');

    const status = await anvilCli(['ca', 'status', '--data-dir', dataDir, ...hsm.args], hsm.env);
    assert.equal(status.code, 0, describeRun(status));
    assert.match(status.stdout, new RegExp(`issuer ${issuer.id} \\(active, key pkcs11`), describeRun(status));
  });

  it('the key object on the token is sensitive and non-extractable: CKA_VALUE cannot be read', () => {
    assert.ok(issuer, 'needs the manifest');
    const keys = tokenPrivateKeys(hsm);
    const key = keys.find((k) => k.label === issuer!.label && k.idHex === issuer!.idHex);
    assert.ok(key, `the manifest's key ${issuer.label}/${issuer.idHex} is on the token: ${JSON.stringify(keys)}`);
    assert.equal(key.sensitive, true, 'CKA_SENSITIVE');
    assert.equal(key.extractable, false, 'CKA_EXTRACTABLE');
    assert.equal(key.alwaysSensitive, true, 'CKA_ALWAYS_SENSITIVE');
    assert.equal(key.neverExtractable, true, 'CKA_NEVER_EXTRACTABLE');
    assert.match(key.valueRead, /CKR_ATTRIBUTE_SENSITIVE/, 'reading CKA_VALUE is refused by the token');
  });

  it('lego gets a certificate signed by the HSM key; openssl verifies the chain to the root', async () => {
    assert.ok(issuer, 'needs the manifest');
    const domain = 'hsm-a.test';
    const result = await lego(domain, ['run']);
    assert.equal(result.code, 0, failureReport(result, server!));
    const chain = await readText(path.join(work, 'lego', 'certificates', `${domain}.crt`));
    const [leafPem, intermediatePem] = pemBlocks(chain).map((p) => `${p}\n`);
    assert.ok(leafPem && intermediatePem, `leaf + intermediate:\n${chain}`);
    assert.ok(new X509Certificate(intermediatePem).raw.equals(new X509Certificate(issuer.pem).raw), 'the chain carries the HSM-backed intermediate');
    assert.ok(new X509Certificate(leafPem).verify(new X509Certificate(issuer.pem).publicKey), 'the leaf signature verifies with the token key');
    const files = path.join(work, 'files');
    await mkdir(files, { recursive: true });
    const leafPath = path.join(files, 'leaf.pem');
    const intermediatePath = path.join(files, 'intermediate.pem');
    await writeFile(leafPath, leafPem);
    await writeFile(intermediatePath, intermediatePem);
    const verify = await opensslVerify(rootPath, intermediatePath, leafPath, { purpose: 'sslserver' });
    assert.ok(verify.ok, verify.output);
    leaf = { leafPath, intermediatePath, urls: revocationUrlsOf(leafPem), serialHex: serialHexOf(leafPem) };
  });

  it('OCSP says good and its CRL passes openssl verify -crl_check; after lego revoke OCSP says revoked and the CRL refuses it', async () => {
    assert.ok(leaf && issuer, 'needs the lego certificate');
    const good = await ocsp();
    assert.equal(good.result.code, 0, good.output);
    assert.ok(good.verified, `Response verify OK\n${good.output}`);
    assert.equal(good.status, 'good', good.output);

    const before = await waitForCrl(leaf.urls.crl, () => true, 5_000);
    assert.ok(before.crl.verifiedBy(issuer.pem), 'the shard CRL is signed by the HSM-backed intermediate');
    const okWithCrl = await opensslVerifyWithCrl(path.dirname(leaf.leafPath), rootPath, leaf.intermediatePath, leaf.leafPath, before.der, 'before');
    assert.ok(okWithCrl.ok, okWithCrl.output);

    const revoke = await lego('hsm-a.test', ['revoke', '--reason', '1']);
    assert.equal(revoke.code, 0, failureReport(revoke, server!));
    const revoked = await ocsp();
    assert.ok(revoked.verified, `Response verify OK\n${revoked.output}`);
    assert.equal(revoked.status, 'revoked', revoked.output);
    assert.equal(revoked.reason, 'keyCompromise', revoked.output);

    const listed = await waitForCrl(leaf.urls.crl, (crl) => crl.entries.has(leaf!.serialHex), 6_000);
    assert.ok(listed.crl.verifiedBy(issuer.pem), 'the CRL listing the revocation is signed by the HSM-backed intermediate');
    const refused = await opensslVerifyWithCrl(path.dirname(leaf.leafPath), rootPath, leaf.intermediatePath, leaf.leafPath, listed.der, 'after');
    assert.equal(refused.ok, false, refused.output);
    assert.match(refused.error ?? refused.output, /certificate revoked/, refused.output);
  });

  it('anvil ca rotate against the running server makes the next intermediate on the token too; lego then gets a certificate from it', async () => {
    assert.ok(issuer && leaf, 'needs the first issuer');
    const rotate = await anvilCli(['ca', 'rotate', '--data-dir', dataDir, ...hsm.args], hsm.env);
    assert.equal(rotate.code, 0, describeRun(rotate));
    const manifest = readManifestView(dataDir);
    const active = manifest.issuers.find((i) => i.status === 'active')!;
    assert.notEqual(active.id, issuer.id);
    assert.equal(manifest.issuers.find((i) => i.id === issuer!.id)?.status, 'retiring');
    assert.equal(active.key.kind, 'pkcs11', `the store chosen at init is kept: ${JSON.stringify(active.key)}`);
    const activePem = caCertPem(dataDir, active.certFile);
    assert.deepEqual(keyFilesFor(dataDir, INTEROP_PASSPHRASE, activePem), [], 'no file holds the new intermediate key');
    const onToken = tokenPrivateKeys(hsm).find((k) => k.label === active.key.label && k.idHex === active.key.id);
    assert.ok(onToken && onToken.sensitive && !onToken.extractable, `the new key is on the token, sensitive, non-extractable: ${JSON.stringify(onToken)}`);

    // The server (a separate PKCS#11 session) must find the key another process generated after it started.
    const deadline = Date.now() + 8_000;
    let got: X509Certificate | undefined;
    for (let n = 0; Date.now() < deadline; n++) {
      const domain = `hsm-rotated-${n}.test`;
      const result = await lego(domain, ['run']);
      assert.equal(result.code, 0, failureReport(result, server!));
      const [, intermediatePem] = pemBlocks(await readText(path.join(work, 'lego', 'certificates', `${domain}.crt`)));
      got = new X509Certificate(`${intermediatePem}\n`);
      if (got.raw.equals(new X509Certificate(activePem).raw)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(got?.raw.equals(new X509Certificate(activePem).raw), `after the reload the server issues with the new HSM-backed intermediate ${active.id}\n${server!.logs().slice(-4000)}`);
    // The retiring HSM issuer still answers OCSP for its certificate.
    const still = await ocsp();
    assert.ok(still.verified, still.output);
    assert.equal(still.status, 'revoked', still.output);
    issuer = { id: active.id, label: active.key.label!, idHex: active.key.id!, pem: activePem };
  });

  it('with the token key destroyed under the running server, finalize answers serverInternal + Retry-After at once and the order stays ready', async () => {
    assert.ok(issuer && leaf, 'needs the manifest and the revoked certificate');
    assert.equal(destroyTokenKey(hsm, issuer.label, issuer.idHex), 1, 'one key object destroyed');
    const responder = await startHttp01Responder(http01Port);
    try {
      const acme = await new RawAcme(server!.directoryUrl, rootPem).init();
      assert.equal((await acme.register()).status, 201);
      const name = uniqueName('hsm-down');
      const { url, order } = await readyOrder(acme, responder, dns(name));
      const { csr } = await makeCsr([name]);
      for (let attempt = 1; attempt <= 4; attempt++) {
        const started = Date.now();
        const res = await acme.post(order.finalize, { csr });
        const elapsed = Date.now() - started;
        assert.equal(res.status, 500, `attempt ${attempt}: ${res.status} ${res.body}`);
        assert.equal(res.json?.type, `${ACME_ERROR}serverInternal`, res.body);
        const retryAfter = String(res.headers['retry-after'] ?? '');
        assert.match(retryAfter, /^[1-9]\d*$/, `attempt ${attempt}: Retry-After (delta-seconds) on the 500: ${JSON.stringify(res.headers)}`);
        assert.ok(elapsed < SIGNER_TIMEOUT_MS + 1_500, `attempt ${attempt}: answered within the signer timeout (${elapsed} ms)`);
        assert.doesNotMatch(res.body, /CKR_|pkcs11|PKCS#11/i, 'the problem does not expose the key store error');
        const state = await postAsGet(acme, url);
        assert.equal(state.json?.status, 'ready', `attempt ${attempt}: the order stays ready: ${state.body}`);
      }
      // After 3 failures in a row the breaker is open: the 4th attempt was refused without touching the token.
      assert.match(server!.logs(), /circuit open/, 'the signer breaker opened after repeated failures');
      // Revocation information does not depend on the issuer key: OCSP still answers (pre-signed, delegated responder).
      const still = await ocsp();
      assert.ok(still.verified, still.output);
      assert.equal(still.status, 'revoked', still.output);
    } finally {
      await responder.close();
    }
  });
});
