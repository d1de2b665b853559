/**
 * Interop: a root rotation on a live CA (`anvil ca rotate --new-root`, and the admin API's
 * `POST /admin/issuers/rotate {"newRoot": true}`). A new root and a new active intermediate
 * under it appear; the old root stays in the trust bundle (retiring) so the certificates of the
 * old, now retiring, intermediate keep verifying; `/trust-bundle.pem` changes its ETag and holds
 * both roots; `anvil ca status` shows both; openssl verifies a new leaf against the bundle file,
 * and, through the cross-signed intermediate, against the old root alone.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { issue, pemBlocks, uniqueName } from '../helpers/acme-flow.js';
import { httpsGet } from '../../src/agent/https-get.js';
import { adminCall, createAdminToken } from '../helpers/admin-http.js';
import { expectSuccess, issuerIdOf } from '../helpers/ca-cli.js';
import { caCertPem, readManifestView } from '../helpers/data-dir-scan.js';
import { anvilCli } from '../helpers/eab.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { describeRun, freePort, opensslVerify, requireTool, waitFor, type AcmeServer, type RunResult } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const skip = requireTool('openssl');

describe('root rotation: a new root, both roots in the trust bundle through the overlap', { skip, timeout: 180_000 }, () => {
  let dataDir = '';
  let stack: InteropStack | undefined;
  let responder: Http01Responder | undefined;
  let server: AcmeServer | undefined;
  let acme: RawAcme | undefined;
  let adminUrl = '';
  let oldRootPem = '';
  let oldLeaf = '';
  let oldEtag = '';
  let rotation: RunResult | undefined;
  let status: RunResult | undefined;
  const bundleUrl = (): string => `${server!.baseUrl}/trust-bundle.pem`;

  async function issueOne(): Promise<{ issuerId: string | undefined; chainPem: string }> {
    const issued = await issue(acme!, responder!, [uniqueName('root-rotation')]);
    const [, intermediate] = pemBlocks(issued.chainPem);
    return { issuerId: issuerIdOf(dataDir, `${intermediate}\n`), chainPem: issued.chainPem };
  }

  /** Issues until the server signs with the active issuer (it reloads on SIGHUP or its manifest poll). */
  async function issueFromActive(): Promise<string> {
    const active = readManifestView(dataDir).issuers.find((i) => i.status === 'active')!.id;
    const deadline = Date.now() + 8_000;
    while (Date.now() < deadline) {
      const got = await issueOne();
      if (got.issuerId === active) return got.chainPem;
      await new Promise((r) => setTimeout(r, 200));
    }
    return assert.fail(`the server does not issue with ${active}\n${server!.logs().slice(-3000)}`);
  }

  before(async () => {
    stack = await openStack('anvil-interop-root-rotation-');
    dataDir = path.join(stack.work, 'data');
    responder = await startHttp01Responder(stack.http01Port);
    stack.onClose(() => responder?.close());
    expectSuccess(await anvilCli(['init', '--data-dir', dataDir, '--organization', 'Root Rotation', '--no-alternate-root']));
    const adminPort = await freePort();
    adminUrl = `http://127.0.0.1:${adminPort}`;
    let rootPem: string;
    ({ server, rootPem } = await stack.start({ dataDir, extraArgs: ['--log-level', 'warn'], env: { ANVIL_ADMIN_LISTEN: `127.0.0.1:${adminPort}` } }));
    oldRootPem = rootPem;
    acme = await new RawAcme(server.directoryUrl, rootPem).init();
    assert.equal((await acme.register()).status, 201);
    oldLeaf = (await issueOne()).chainPem;
    const bundle = await httpsGet(bundleUrl(), { ca: rootPem, timeoutMs: 10_000 });
    assert.equal(bundle.status, 200);
    assert.equal(pemBlocks(bundle.body.toString()).length, 1, 'one root before the rotation');
    oldEtag = String(bundle.headers.etag);

    rotation = await anvilCli(['ca', 'rotate', '--new-root', '--data-dir', dataDir]);
    status = await anvilCli(['ca', 'status', '--data-dir', dataDir]);
  }, { timeout: 120_000 });

  after(() => stack?.close());

  it('anvil ca rotate --new-root creates a root and an intermediate under it; status shows both roots', () => {
    assert.ok(rotation && status);
    assert.equal(rotation.code, 0, describeRun(rotation));
    assert.match(rotation.stdout, /new root root-[0-9a-f]{8}; roots root retiring \(kept in the trust bundle\)/);
    assert.match(rotation.stdout, /new active issuer int-[0-9a-f]+ under root-[0-9a-f]{8}, cross-signed by root; retiring int-/);
    assert.match(status.stdout, /root root-[0-9a-f]{8} \(active, key file\)/, status.stdout);
    assert.match(status.stdout, /root root \(retiring, key file\)/, status.stdout);
    const m = readManifestView(dataDir);
    assert.equal(m.roots.length, 2);
    const active = m.issuers.filter((i) => i.status === 'active');
    assert.equal(active.length, 1);
    assert.equal(active[0]!.rootId, m.roots.find((r) => r.status === 'active')!.id);
  });

  it('the trust bundle (file and /trust-bundle.pem with a new ETag) holds the old and the new root; root.pem is the new one', async () => {
    // root.pem and trust-bundle.pem are the server's: it rewrites them when it reloads the manifest.
    const activeRoot = readManifestView(dataDir).roots.find((r) => r.status === 'active')!;
    const newRoot = caCertPem(dataDir, activeRoot.certFile);
    await waitFor('the server reloading the hierarchy', () => readFileSync(path.join(dataDir, 'root.pem'), 'utf8') === newRoot, 8_000, 100);
    assert.notEqual(new X509Certificate(newRoot).fingerprint256, new X509Certificate(oldRootPem).fingerprint256);
    const file = readFileSync(path.join(dataDir, 'trust-bundle.pem'), 'utf8');
    const fingerprints = pemBlocks(file).map((p) => new X509Certificate(p).fingerprint256);
    assert.equal(fingerprints.length, 2);
    assert.ok(fingerprints.includes(new X509Certificate(oldRootPem).fingerprint256), 'the old root stays');
    assert.ok(fingerprints.includes(new X509Certificate(newRoot).fingerprint256), 'the new root is in');
    let served = await httpsGet(bundleUrl(), { ca: file, timeoutMs: 10_000 });
    await waitFor('the server serving the new bundle', async () => {
      served = await httpsGet(bundleUrl(), { ca: file, timeoutMs: 10_000 });
      return served.headers.etag !== oldEtag;
    }, 8_000, 100);
    assert.equal(served.status, 200);
    assert.deepEqual(pemBlocks(served.body.toString()).map((p) => new X509Certificate(p).fingerprint256).sort(), [...fingerprints].sort());
  });

  it('openssl verifies a new leaf against the bundle, and against the old root alone through the cross-signed intermediate', async () => {
    const bundleFile = path.join(dataDir, 'trust-bundle.pem');
    const chain = await issueFromActive();
    const [leaf, intermediate] = pemBlocks(chain);
    const viaBundle = await opensslVerify(bundleFile, `${intermediate}\n`, `${leaf}\n`);
    assert.ok(viaBundle.ok, viaBundle.output);
    const viaNewRoot = await opensslVerify(path.join(dataDir, 'root.pem'), `${intermediate}\n`, `${leaf}\n`);
    assert.ok(viaNewRoot.ok, viaNewRoot.output);
    const active = readManifestView(dataDir).issuers.find((i) => i.status === 'active')!;
    const cross = active.alternates.find((a) => a.rootId === 'root');
    assert.ok(cross, 'the new intermediate is cross-signed by the old root');
    const viaOldRoot = await opensslVerify(oldRootPem, caCertPem(dataDir, cross.certFile), `${leaf}\n`);
    assert.ok(viaOldRoot.ok, viaOldRoot.output);
    const [oldLeafPem, oldIntermediate] = pemBlocks(oldLeaf);
    const old = await opensslVerify(bundleFile, `${oldIntermediate}\n`, `${oldLeafPem}\n`);
    assert.ok(old.ok, `a certificate of the retiring intermediate still verifies against the bundle: ${old.output}`);
  });

  it('the admin API rotates the root too, and refuses a malformed newRoot without changing anything', async () => {
    const { token } = await createAdminToken(dataDir, 'ca-admin', 'root-rotation');
    const before = readFileSync(path.join(dataDir, 'ca', 'manifest.json'), 'utf8');
    const bad = await adminCall(adminUrl, token, 'POST', '/admin/issuers/rotate', { newRoot: 'yes' });
    assert.equal(bad.status, 400, bad.body);
    assert.match(bad.body, /newRoot must be true or false/);
    assert.equal(readFileSync(path.join(dataDir, 'ca', 'manifest.json'), 'utf8'), before);
    const rotated = await adminCall(adminUrl, token, 'POST', '/admin/issuers/rotate', { newRoot: true });
    assert.equal(rotated.status, 200, rotated.body);
    assert.match(String(rotated.json?.root), /^root-[0-9a-f]{8}$/);
    // The admin API reloads the server's hierarchy before it answers.
    assert.equal(pemBlocks(readFileSync(path.join(dataDir, 'trust-bundle.pem'), 'utf8')).length, 3, 'all three roots in the bundle');
    const chain = await issueFromActive();
    const [leaf, intermediate] = pemBlocks(chain);
    const verify = await opensslVerify(path.join(dataDir, 'trust-bundle.pem'), `${intermediate}\n`, `${leaf}\n`);
    assert.ok(verify.ok, verify.output);
  });
});
