/**
 * Interop: the operator commands of the CA hierarchy, run as real processes against a data
 * directory a real server is using. `anvil init` refuses a second time; the root key goes offline
 * (`ca export-root-key`, `ca remove-root-key`: no root key left in the data directory, `ca rotate`
 * then fails with a clear message) and comes back (`ca import-root-key`, after which rotation
 * works and the running server switches to the new intermediate); `ca archive` refuses while an
 * issuer has unexpired certificates, `ca retire-key` refuses before archive, and both work for an
 * issuer without certificates. (Importing an external intermediate: ca-import.test.ts.)
 */
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { issue, pemBlocks, uniqueName } from '../helpers/acme-flow.js';
import { expectRefusal, expectSuccess, issuerIdOf } from '../helpers/ca-cli.js';
import { caCertPem, filesContaining, keyFilesFor, privateKeyFiles, readManifestView, secretForms, spkiHex } from '../helpers/data-dir-scan.js';
import { anvilCli, INTEROP_PASSPHRASE } from '../helpers/eab.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { describeRun, opensslVerify, requireTool, type AcmeServer, type RunResult } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const skip = requireTool('openssl');

describe('ca admin: init, root key offline and back, rotate, archive, retire-key', { skip, timeout: 300_000 }, () => {
  let work = '';
  let dataDir = '';
  let stack: InteropStack | undefined;
  let responder: Http01Responder | undefined;
  let server: AcmeServer | undefined;
  let rootPem = '';
  let acme: RawAcme | undefined;
  const issuers: string[] = [];
  const ca = (args: string[]): Promise<RunResult> => anvilCli(['ca', args[0]!, '--data-dir', dataDir, ...args.slice(1)]);

  /** Issues one certificate and returns the id of the issuer that signed it. */
  async function issueOne(prefix: string): Promise<{ issuerId: string | undefined; chainPem: string }> {
    const issued = await issue(acme!, responder!, [uniqueName(prefix)]);
    const [, intermediate] = pemBlocks(issued.chainPem);
    return { issuerId: issuerIdOf(dataDir, `${intermediate}\n`), chainPem: issued.chainPem };
  }

  /** Issues until the server uses `issuerId` (it reloads on SIGHUP, or within the 2 s manifest poll). */
  async function issueUntil(issuerId: string): Promise<void> {
    const deadline = Date.now() + 8_000;
    let last: string | undefined;
    while (Date.now() < deadline) {
      last = (await issueOne('reload')).issuerId;
      if (last === issuerId) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.fail(`the server still issues with ${last}, not ${issuerId}\n${server!.logs().slice(-3000)}`);
  }

  before(async () => {
    stack = await openStack('anvil-interop-ca-admin-');
    work = stack.work;
    dataDir = path.join(work, 'data');
    responder = await startHttp01Responder(stack.http01Port);
    stack.onClose(() => responder?.close());
    const init = await anvilCli(['init', '--data-dir', dataDir, '--organization', 'Admin Test']);
    expectSuccess(init);
    assert.match(init.stdout, /root root \(active, key file\)/, describeRun(init));
    ({ server, rootPem } = await stack.start({ dataDir, extraArgs: ['--log-level', 'warn'] }));
    acme = await new RawAcme(server.directoryUrl, rootPem).init();
    assert.equal((await acme.register()).status, 201);
    issuers.push(readManifestView(dataDir).issuers[0]!.id);
  }, { timeout: 90_000 });

  after(() => stack?.close());

  it('anvil init a second time refuses and leaves the CA as it was', async () => {
    const before = readFileSync(path.join(dataDir, 'ca', 'manifest.json'), 'utf8');
    expectRefusal(await anvilCli(['init', '--data-dir', dataDir]), /already holds a CA/);
    expectRefusal(await anvilCli(['init', '--data-dir', dataDir, '--key-store', 'file', '--no-alternate-root']), /already holds a CA/);
    assert.equal(readFileSync(path.join(dataDir, 'ca', 'manifest.json'), 'utf8'), before);
    assert.deepEqual(privateKeyFiles(dataDir).filter((k) => !k.encrypted), [], 'every key encrypted');
  });

  it('the first certificate is issued by the initial intermediate and chains to the root', async () => {
    const { issuerId, chainPem } = await issueOne('first');
    assert.equal(issuerId, issuers[0]);
    const [leaf, intermediate] = pemBlocks(chainPem);
    const verify = await opensslVerify(server!.rootPemPath, `${intermediate}\n`, `${leaf}\n`);
    assert.ok(verify.ok, verify.output);
  });

  it('export-root-key + remove-root-key leave no root key in the data directory; ca rotate then fails clearly', async () => {
    const roots = readManifestView(dataDir).roots;
    assert.deepEqual(roots.map((r) => r.id), ['root', 'root-alt']);
    for (const root of roots) {
      const out = path.join(work, `${root.id}.offline.pem`);
      expectSuccess(await ca(['export-root-key', '--root', root.id, '--out', out]));
      const exported = readFileSync(out, 'utf8');
      assert.ok(exported.startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----'), 'the exported key is still encrypted');
      assert.equal(spkiHex(createPrivateKey({ key: exported, passphrase: INTEROP_PASSPHRASE })), spkiHex(new X509Certificate(caCertPem(dataDir, root.certFile))));
      expectRefusal(await ca(['export-root-key', '--root', root.id, '--out', out]), /exists; refusing to overwrite/);
    }
    const manifestBefore = readManifestView(dataDir);
    for (const root of roots) expectSuccess(await ca(['remove-root-key', '--root', root.id]));
    for (const root of roots) {
      assert.deepEqual(keyFilesFor(dataDir, INTEROP_PASSPHRASE, caCertPem(dataDir, root.certFile)), [], `no file in the data directory decrypts to the key of ${root.id}`);
      assert.equal(existsSync(path.join(dataDir, 'ca', root.key!.file!)), false, `${root.key!.file} is gone`);
      // The removed file's secret bytes are nowhere either (it was overwritten before unlinking).
      const exported = readFileSync(path.join(work, `${root.id}.offline.pem`), 'utf8');
      for (const form of secretForms(exported, INTEROP_PASSPHRASE)) assert.deepEqual(filesContaining(dataDir, form.bytes), [], `${root.id}: ${form.name}`);
      assert.deepEqual(filesContaining(dataDir, exported.trim().split('\n')[1]!), [], `${root.id}: the encrypted key is not left behind either`);
    }
    const offline = readManifestView(dataDir);
    assert.deepEqual(offline.roots.map((r) => r.key), [null, null], 'the manifest records both root keys as offline');
    const status = await ca(['status']);
    expectSuccess(status);
    assert.match(status.stdout, /root root \(active, key offline\)/, describeRun(status));

    const rotate = await ca(['rotate']);
    expectRefusal(rotate, /the key of root root is not in the data directory; bring it back \(anvil ca import-root-key\) to rotate/);
    const after = readManifestView(dataDir);
    assert.deepEqual(after.issuers, manifestBefore.issuers, 'a refused rotation changes no issuer');
    assert.deepEqual(after.issuers.map((i) => i.status), ['active']);
    // The running server is untouched: it still issues with the same intermediate.
    assert.equal((await issueOne('offline-root')).issuerId, issuers[0]);
  });

  it('import-root-key refuses the wrong key, restores the right one (encrypted), and rotation then works', async () => {
    expectRefusal(await ca(['import-root-key', '--root', 'root', '--in', path.join(work, 'root-alt.offline.pem')]), /is not the key of root root/);
    for (const id of ['root', 'root-alt']) expectSuccess(await ca(['import-root-key', '--root', id, '--in', path.join(work, `${id}.offline.pem`)]));
    expectRefusal(await ca(['import-root-key', '--root', 'root', '--in', path.join(work, 'root.offline.pem')]), /already has its key/);
    const manifest = readManifestView(dataDir);
    for (const root of manifest.roots) {
      assert.equal(root.key?.kind, 'file');
      const files = keyFilesFor(dataDir, INTEROP_PASSPHRASE, caCertPem(dataDir, root.certFile));
      assert.equal(files.length, 1, `${root.id}'s key is back: ${files.join(', ')}`);
      assert.ok(readFileSync(files[0]!, 'utf8').startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----'));
    }
    const rotate = await ca(['rotate']);
    expectSuccess(rotate);
    const rotated = readManifestView(dataDir);
    const active = rotated.issuers.find((i) => i.status === 'active')!;
    assert.notEqual(active.id, issuers[0]);
    assert.equal(rotated.issuers.find((i) => i.id === issuers[0])?.status, 'retiring');
    assert.ok(rotated.bundleVersion > manifest.bundleVersion, 'the bundle version moved');
    issuers.push(active.id);
    await issueUntil(active.id);
  });

  it('ca archive refuses while the issuer has unexpired certificates; retire-key refuses before archive; an active issuer cannot be archived', async () => {
    const [first, second] = issuers;
    expectRefusal(await ca(['archive', '--issuer', first!]), new RegExp(`issuer ${first} still has \\d+ unexpired certificate`));
    expectRefusal(await ca(['retire-key', '--issuer', first!]), new RegExp(`issuer ${first} is retiring; archive it first`));
    // The active issuer (which also has a certificate) is refused for being active.
    expectRefusal(await ca(['archive', '--issuer', second!]), /is active; only a retiring issuer can be archived/);
    const manifest = readManifestView(dataDir);
    assert.equal(manifest.issuers.find((i) => i.id === first)?.status, 'retiring', 'still retiring');
    assert.ok(existsSync(path.join(dataDir, 'ca', manifest.issuers.find((i) => i.id === first)!.key.file!)), 'its key is still there');
  });

  it('an issuer without certificates: retire-key refuses before archive, then archive and retire-key work and the key is gone', async () => {
    // `second` has certificates (issueUntil); rotate twice so the third issuer retires without any.
    expectSuccess(await ca(['rotate']));
    const third = readManifestView(dataDir).issuers.find((i) => i.status === 'active')!.id;
    expectSuccess(await ca(['rotate']));
    const fourth = readManifestView(dataDir).issuers.find((i) => i.status === 'active')!.id;
    issuers.push(third, fourth);
    const keyFile = path.join(dataDir, 'ca', readManifestView(dataDir).issuers.find((i) => i.id === third)!.key.file!);
    const thirdPem = caCertPem(dataDir, readManifestView(dataDir).issuers.find((i) => i.id === third)!.certFile);
    assert.ok(existsSync(keyFile));
    // The running server certified an OCSP responder key for the third issuer when it loaded it.
    const responderKey = path.join(dataDir, 'ca', 'ocsp', `${third}.key.pem`);
    for (let i = 0; i < 100 && !existsSync(responderKey); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(existsSync(responderKey), 'the OCSP responder key of the third issuer exists');

    expectRefusal(await ca(['retire-key', '--issuer', third]), new RegExp(`issuer ${third} is retiring; archive it first`));
    expectSuccess(await ca(['archive', '--issuer', third]));
    expectRefusal(await ca(['archive', '--issuer', third]), /is archived; only a retiring issuer can be archived/);
    const retire = await ca(['retire-key', '--issuer', third]);
    expectSuccess(retire);
    const entry = readManifestView(dataDir).issuers.find((i) => i.id === third)!;
    assert.equal(entry.status, 'archived');
    assert.ok(entry.archivedAt && entry.keyDestroyedAt, JSON.stringify(entry));
    assert.equal(existsSync(keyFile), false, 'the key file is gone');
    assert.equal(existsSync(responderKey), false, 'the OCSP responder key the issuer certified is gone too');
    assert.deepEqual(keyFilesFor(dataDir, INTEROP_PASSPHRASE, thirdPem), [], 'no file decrypts to the destroyed key');
    expectRefusal(await ca(['retire-key', '--issuer', third]), /was destroyed at/);

    // The bundle no longer lists the archived issuer; the server reloads and issues with the fourth.
    const bundle = await ca(['bundle']);
    expectSuccess(bundle);
    const ids = (JSON.parse(bundle.stdout) as { issuers: { id: string }[] }).issuers.map((i) => i.id);
    assert.ok(!ids.includes(third) && ids.includes(fourth), bundle.stdout);
    await issueUntil(fourth);
  });
});

