/**
 * Interop: `anvil init --import-chain/--import-key` with an intermediate made by openssl under an
 * openssl root. The key ends up encrypted with Anvil's passphrase (no plaintext copy anywhere in
 * the data directory), issuance chains to the external root (openssl verify), a second init
 * refuses, `ca rotate` explains that the root key is not here, a key that is not the
 * intermediate's is refused, an encrypted key is imported with --import-key-passphrase-file, and
 * an issuing CA below an external policy CA keeps its full chain.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { links } from '../helpers/acme-assert.js';
import { issue, pemBlocks, postAsGet, uniqueName } from '../helpers/acme-flow.js';
import { expectRefusal, expectSuccess, openssl } from '../helpers/ca-cli.js';
import { caCertPem, filesContaining, keyFilesFor, privateKeyFiles, readManifestView, secretForms } from '../helpers/data-dir-scan.js';
import { anvilCli, INTEROP_PASSPHRASE } from '../helpers/eab.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { describeRun, freePort, opensslVerify, readText, requireTool, startAnvil, type AcmeServer } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const skip = requireTool('openssl');

describe('ca admin: anvil init --import-chain/--import-key with an openssl-made intermediate', { skip, timeout: 300_000 }, () => {
  let work = '';
  let pki = '';
  let dataDir = '';
  let stack: InteropStack | undefined;
  let responder: Http01Responder | undefined;
  let server: AcmeServer | undefined;

  before(async () => {
    stack = await openStack('anvil-interop-import-');
    work = stack.work;
    pki = path.join(work, 'pki');
    await mkdir(pki, { recursive: true });
    dataDir = path.join(work, 'data');
    await writeFile(path.join(pki, 'int.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,digitalSignature,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n');
    await writeFile(path.join(pki, 'pw'), 'openssl-side-passphrase\n');
    const steps = [
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', 'root.key', '-out', 'root.pem', '-days', '3650', '-subj', '/O=External Org/CN=External Root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
      ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'int.key'],
      ['req', '-new', '-key', 'int.key', '-subj', '/O=External Org/CN=External Intermediate', '-out', 'int.csr'],
      ['x509', '-req', '-in', 'int.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-days', '1825', '-extfile', 'int.ext', '-out', 'int.pem'],
      ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key'],
      ['pkcs8', '-topk8', '-in', 'int.key', '-v2', 'aes-256-cbc', '-passout', 'file:pw', '-out', 'int.enc.key'],
    ];
    for (const args of steps) await openssl(args, pki);
    await writeFile(path.join(pki, 'chain.pem'), readFileSync(path.join(pki, 'int.pem'), 'utf8') + readFileSync(path.join(pki, 'root.pem'), 'utf8'));
    responder = await startHttp01Responder(stack.http01Port);
    stack.onClose(() => responder?.close());
    const imported = await anvilCli(['init', '--data-dir', dataDir, '--import-chain', path.join(pki, 'chain.pem'), '--import-key', path.join(pki, 'int.key')]);
    expectSuccess(imported);
    assert.match(imported.stdout, /imported issuer int-[0-9a-f]{12} \(key now encrypted with the Anvil passphrase\)/, describeRun(imported));
    ({ server } = await stack.start({ dataDir, extraArgs: ['--log-level', 'warn'] }));
  }, { timeout: 90_000 });

  after(() => stack?.close());

  it('the imported key is encrypted with the Anvil passphrase; no plaintext copy of it is anywhere in the data directory', () => {
    const manifest = readManifestView(dataDir);
    assert.equal(manifest.issuers.length, 1);
    const issuer = manifest.issuers[0]!;
    assert.equal(issuer.key.kind, 'file');
    assert.deepEqual(manifest.roots.map((r) => r.key), [null], 'the external root has no key here');
    const intPem = readFileSync(path.join(pki, 'int.pem'), 'utf8');
    assert.ok(new X509Certificate(caCertPem(dataDir, issuer.certFile)).raw.equals(new X509Certificate(intPem).raw), 'the intermediate is the one openssl made');
    const files = keyFilesFor(dataDir, INTEROP_PASSPHRASE, intPem);
    assert.deepEqual(files, [path.join(dataDir, 'ca', issuer.key.file!)]);
    assert.ok(readFileSync(files[0]!, 'utf8').startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----'));
    assert.deepEqual(privateKeyFiles(dataDir).filter((k) => !k.encrypted), [], 'every key file is encrypted');
    for (const form of secretForms(readFileSync(path.join(pki, 'int.key')))) assert.deepEqual(filesContaining(dataDir, form.bytes), [], form.name);
    assert.equal(readFileSync(path.join(dataDir, 'root.pem'), 'utf8').trim(), readFileSync(path.join(pki, 'root.pem'), 'utf8').trim(), 'root.pem is the external root');
  });

  it('issuance works and chains to the external root (openssl verify)', async () => {
    const acme = await new RawAcme(server!.directoryUrl, await readText(server!.rootPemPath)).init();
    assert.equal((await acme.register()).status, 201);
    const issued = await issue(acme, responder!, [uniqueName('imported')]);
    const [leaf, intermediate, extra] = pemBlocks(issued.chainPem);
    assert.equal(extra, undefined, 'leaf + intermediate (no root)');
    assert.ok(new X509Certificate(`${intermediate}\n`).raw.equals(new X509Certificate(readFileSync(path.join(pki, 'int.pem'))).raw));
    const leafPath = path.join(work, 'leaf.pem');
    await writeFile(leafPath, `${leaf}\n`);
    const verify = await opensslVerify(path.join(pki, 'root.pem'), path.join(pki, 'int.pem'), leafPath, { purpose: 'sslserver' });
    assert.ok(verify.ok, verify.output);
    const download = await postAsGet(acme, issued.certificateUrl);
    assert.deepEqual(links(download, 'alternate'), [], 'no alternate chain for an imported intermediate');
  });

  it('a second init (plain or import) refuses; ca rotate explains that the root key is not here', async () => {
    expectRefusal(await anvilCli(['init', '--data-dir', dataDir, '--import-chain', path.join(pki, 'chain.pem'), '--import-key', path.join(pki, 'int.key')]), /already holds a CA/);
    expectRefusal(await anvilCli(['init', '--data-dir', dataDir]), /already holds a CA/);
    expectRefusal(await anvilCli(['ca', 'rotate', '--data-dir', dataDir]), /the key of root root is not in the data directory; bring it back \(anvil ca import-root-key\)/);
  });

  it('a key that is not the intermediate’s is refused; an encrypted key is imported with --import-key-passphrase-file', async () => {
    const mismatched = path.join(work, 'mismatched');
    expectRefusal(await anvilCli(['init', '--data-dir', mismatched, '--import-chain', path.join(pki, 'chain.pem'), '--import-key', path.join(pki, 'other.key')]), /the key does not belong to the intermediate certificate/);
    assert.equal(existsSync(path.join(mismatched, 'ca', 'manifest.json')), false, 'nothing was created');

    const encrypted = path.join(work, 'encrypted');
    expectSuccess(
      await anvilCli(['init', '--data-dir', encrypted, '--import-chain', path.join(pki, 'int.pem'), '--import-root', path.join(pki, 'root.pem'), '--import-key', path.join(pki, 'int.enc.key'), '--import-key-passphrase-file', path.join(pki, 'pw')]),
    );
    const files = keyFilesFor(encrypted, INTEROP_PASSPHRASE, readFileSync(path.join(pki, 'int.pem'), 'utf8'));
    assert.equal(files.length, 1, 're-encrypted with the Anvil passphrase (not the openssl one)');
    assert.deepEqual(filesContaining(encrypted, 'openssl-side-passphrase'), [], 'the import passphrase is not stored');
  });

  it('an issuing CA under an external intermediate (root → policy CA → issuing CA): the served chain still reaches the root', async () => {
    // --import-chain takes "<intermediate+root.pem>"; a chain with a CA between them must not lose it,
    // or clients get leaf + issuing CA only and cannot build a path to the root (RFC 8555 §9.1: each
    // certificate in the chain certifies the one before it, up to the trust anchor).
    await writeFile(path.join(pki, 'policy.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:1\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n');
    const steps = [
      ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', 'policy.key'],
      ['req', '-new', '-key', 'policy.key', '-subj', '/O=External Org/CN=External Policy CA', '-out', 'policy.csr'],
      ['x509', '-req', '-in', 'policy.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-days', '3000', '-extfile', 'policy.ext', '-out', 'policy.pem'],
      ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'issuing.key'],
      ['req', '-new', '-key', 'issuing.key', '-subj', '/O=External Org/CN=External Issuing CA', '-out', 'issuing.csr'],
      ['x509', '-req', '-in', 'issuing.csr', '-CA', 'policy.pem', '-CAkey', 'policy.key', '-CAcreateserial', '-days', '1825', '-extfile', 'int.ext', '-out', 'issuing.pem'],
    ];
    for (const args of steps) await openssl(args, pki);
    const chainFile = path.join(pki, 'three-level-chain.pem');
    await writeFile(chainFile, ['issuing.pem', 'policy.pem', 'root.pem'].map((f) => readFileSync(path.join(pki, f), 'utf8')).join(''));
    const threeLevel = path.join(work, 'three-level');
    const init = await anvilCli(['init', '--data-dir', threeLevel, '--import-chain', chainFile, '--import-key', path.join(pki, 'issuing.key')]);
    if (init.code !== 0) {
      // Refusing such a chain with a clear message would also be correct; silently dropping the policy CA is not.
      assert.match(init.stderr, /chain|intermediate/i, describeRun(init));
      return;
    }
    const http01 = await freePort();
    const dnsLocal = await startDnsServer();
    const responder3 = await startHttp01Responder(http01);
    let server3: AcmeServer | undefined;
    try {
      // The server's own HTTPS certificate is issued by the imported CA and served with its chain, so a
      // dropped policy CA already shows here: clients trusting root.pem cannot reach the directory.
      server3 = await startAnvil({ dnsResolver: dnsLocal.resolver, http01Port: http01, dataDir: threeLevel, extraArgs: ['--log-level', 'warn'], readyTimeoutMs: 40_000 }).catch((error: Error) => {
        throw new Error(`the server on the imported 3-level hierarchy is unusable for clients trusting its root.pem (the policy CA is missing from the chain it serves):\n${error.message}`);
      });
      const acme = await new RawAcme(server3.directoryUrl, await readText(server3.rootPemPath)).init();
      assert.equal((await acme.register()).status, 201);
      const issued = await issue(acme, responder3, [uniqueName('three-level')]);
      const blocks = pemBlocks(issued.chainPem).map((b) => `${b}\n`);
      const leafPath = path.join(work, 'three-level-leaf.pem');
      const servedChain = path.join(work, 'three-level-served.pem');
      await writeFile(leafPath, blocks[0]!);
      await writeFile(servedChain, blocks.slice(1).join(''));
      const verify = await opensslVerify(path.join(pki, 'root.pem'), servedChain, leafPath);
      assert.ok(verify.ok, `the chain Anvil serves (${blocks.length - 1} CA certificate(s) after the leaf) must reach the external root\n${verify.output}`);
    } finally {
      await server3?.stop();
      await responder3.close();
      await dnsLocal.close();
    }
  });
});
