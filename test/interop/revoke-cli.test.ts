/**
 * Interop: the operator's `anvil revoke` against the data directory of a running Anvil process.
 * OCSP must answer `revoked` with the operator's reason as soon as the command exits, the running
 * server must publish CRLs listing it within --crl-revocation-delay, a second revocation exits 1
 * ("already revoked"), bad input exits 2, keyCompromise blocks the key, and CRL numbers survive
 * a restart (RFC 5280 §5.2.3: they only grow).
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import Database from 'better-sqlite3';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertProblem } from '../helpers/acme-assert.js';
import { dns, issue, makeCsr, pemBlocks, readyOrder, uniqueName, type Issued } from '../helpers/acme-flow.js';
import { fetchCrl, serialHexOf, waitForCrl } from '../helpers/crl-reader.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { opensslOcsp } from '../helpers/openssl-revocation.js';
import { certIdOf, ocspRequest, OCSPResponseStatus, parseOcspResponse } from '../helpers/ocsp-wire.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { ocspPost, revocationUrlsOf } from '../helpers/revocation-http.js';
import { certSerial, describeRun, freePort, readText, requireTool, run, serverEntry, type AcmeServer, type RunResult } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const PASSPHRASE = 'revoke-cli-passphrase';
const PUBLISH_BOUND_MS = 1_000 + 4_000;
const skip = requireTool('openssl');

describe('anvil revoke (operator) against a running server', { skip, timeout: 300_000 }, () => {
  let stack: InteropStack | undefined;
  let responder: Http01Responder | undefined;
  let server: AcmeServer | undefined;
  let work = '';
  let dataDir = '';
  let revocationPort = 0;
  let acme: RawAcme;
  let numbersBefore: { shard: bigint; full: bigint } | undefined;
  const certs: { issued: Issued; leaf: string; intermediate: string; leafPath: string; intermediatePath: string }[] = [];

  const serverArgs = (): string[] => ['--revocation-listen', `127.0.0.1:${revocationPort}`, '--crl-revocation-delay', '1s', '--crl-shards', '2'];

  async function start(): Promise<void> {
    ({ server } = await stack!.start({ dataDir, extraArgs: serverArgs(), env: { ANVIL_KEY_PASSPHRASE: PASSPHRASE } }));
  }

  /** `node dist/src/cli/main.js revoke --data-dir <dir> …` with the server's passphrase. */
  function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
    // Inherited ANVIL_* variables from the developer's shell must not change what is tested.
    const unset = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('ANVIL_')).map((k) => [k, undefined]));
    return run(process.execPath, [serverEntry(), 'revoke', '--data-dir', dataDir, ...args], { env: { ...unset, ANVIL_KEY_PASSPHRASE: PASSPHRASE, ...env }, timeoutMs: 60_000 });
  }

  async function ocspSingle(i: number) {
    const c = certs[i]!;
    const res = await ocspPost(revocationUrlsOf(c.leaf).ocsp, ocspRequest([certIdOf(c.leaf, c.intermediate)]));
    const parsed = parseOcspResponse(res.body);
    assert.equal(parsed.responseStatus, OCSPResponseStatus.successful);
    assert.ok(parsed.basic?.signatureValid);
    return parsed.basic.singles[0]!;
  }

  before(async () => {
    stack = await openStack('anvil-interop-revoke-cli-');
    work = stack.work;
    dataDir = path.join(work, 'server');
    await mkdir(path.join(work, 'files'), { recursive: true });
    responder = await startHttp01Responder(stack.http01Port);
    stack.onClose(() => responder?.close());
    revocationPort = await freePort();
    await start();
    acme = await new RawAcme(server!.directoryUrl, await readText(server!.rootPemPath)).init();
    await acme.register();
    // The fourth stays good until the last test revokes it.
    for (let i = 0; i < 4; i++) {
      const issued = await issue(acme, responder, [uniqueName('cli')]);
      const [leaf, intermediate] = pemBlocks(issued.chainPem).map((p) => `${p}\n`) as [string, string];
      const leafPath = path.join(work, 'files', `${i}.leaf.pem`);
      const intermediatePath = path.join(work, 'files', `${i}.intermediate.pem`);
      await writeFile(leafPath, leaf);
      await writeFile(intermediatePath, intermediate);
      certs.push({ issued, leaf, intermediate, leafPath, intermediatePath });
    }
  });

  after(() => stack?.close());

  it('revoke --serial <hex> --reason superseded exits 0; OCSP says revoked (superseded) at once, per openssl too', async () => {
    const c = certs[0]!;
    assert.equal((await ocspSingle(0)).status, 'good');
    const urls = revocationUrlsOf(c.leaf);
    numbersBefore = { shard: (await fetchCrl(urls.crl)).crl.number!, full: (await fetchCrl(urls.fullCrl)).crl.number! };
    const result = await cli(['--serial', certSerial(c.leaf).toLowerCase(), '--reason', 'superseded']);
    assert.equal(result.code, 0, describeRun(result));
    assert.match(result.stdout, new RegExp(`revoked ${serialHexOf(c.leaf)}`), describeRun(result));
    const single = await ocspSingle(0);
    assert.equal(single.status, 'revoked');
    assert.equal(single.reason, 4);
    const judged = await opensslOcsp({ issuerPath: c.intermediatePath, certPath: c.leafPath, url: revocationUrlsOf(c.leaf).ocsp, rootPath: server!.rootPemPath, after: ['-no_nonce'] });
    assert.ok(judged.verified, judged.output);
    assert.equal(judged.status, 'revoked', judged.output);
    assert.equal(judged.reason, 'superseded', judged.output);
  });

  it('the running server publishes the shard and full CRLs listing it (superseded) within the delay; CRL numbers grew', async () => {
    const c = certs[0]!;
    const urls = revocationUrlsOf(c.leaf);
    const serial = serialHexOf(c.leaf);
    const started = Date.now();
    const shard = await waitForCrl(urls.crl, (crl) => crl.entries.has(serial), PUBLISH_BOUND_MS);
    const full = await waitForCrl(urls.fullCrl, (crl) => crl.entries.has(serial), PUBLISH_BOUND_MS);
    assert.equal(shard.crl.entries.get(serial)!.reason, 4);
    assert.equal(full.crl.entries.get(serial)!.reason, 4);
    assert.ok(Date.now() - started <= PUBLISH_BOUND_MS + 1_000);
    assert.ok(numbersBefore, 'needs the numbers read by the previous test');
    assert.ok(shard.crl.number! > numbersBefore.shard, `shard CRL number ${numbersBefore.shard} → ${shard.crl.number}`);
    assert.ok(full.crl.number! > numbersBefore.full, `full CRL number ${numbersBefore.full} → ${full.crl.number}`);
  });

  it('revoking it again exits 1 with "already revoked"', async () => {
    const result = await cli(['--serial', certSerial(certs[0]!.leaf), '--reason', 'keyCompromise']);
    assert.equal(result.code, 1, describeRun(result));
    assert.match(result.stderr, /already revoked/, describeRun(result));
    assert.equal((await ocspSingle(0)).reason, 4, 'the first reason stands');
  });

  it('bad serials and reasons exit 2; an unknown serial exits 1; none of them revokes anything', async () => {
    const serial = certSerial(certs[2]!.leaf);
    for (const args of [
      ['--serial', 'not-hex', '--reason', 'superseded'],
      ['--serial', '', '--reason', 'superseded'],
      ['--reason', 'superseded'],
      ['--serial', serial, '--reason', 'cACompromise'],
      ['--serial', serial, '--reason', 'certificateHold'],
      ['--serial', serial, '--reason', '7'],
      ['--serial', serial, '--reason', 'bogus'],
      ['--serial', serial, '--reason', 'superseded', '--invalidity-date', 'yesterday-ish'],
      ['--serial', serial, '--reason', 'superseded', '--no-such-flag'],
    ]) {
      const result = await cli(args);
      assert.equal(result.code, 2, describeRun(result));
    }
    const unknown = await cli(['--serial', '7f0102030405060708090a0b0c0d0e0f', '--reason', 'superseded']);
    assert.equal(unknown.code, 1, describeRun(unknown));
    assert.equal((await ocspSingle(2)).status, 'good', 'the certificate named in the bad commands is untouched');
  });

  it('openssl-style serial (AB:CD:…) with keyCompromise and --invalidity-date: revoked, CRL carries the invalidity date, the key is blocked', async () => {
    const c = certs[1]!;
    const colon = certSerial(c.leaf).match(/../g)!.join(':');
    const invalidity = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
    const result = await cli(['--serial', colon, '--reason', 'keyCompromise', '--invalidity-date', invalidity.toISOString()]);
    assert.equal(result.code, 0, describeRun(result));
    const single = await ocspSingle(1);
    assert.equal(single.status, 'revoked');
    assert.equal(single.reason, 1);
    const serial = serialHexOf(c.leaf);
    const { crl } = await waitForCrl(revocationUrlsOf(c.leaf).crl, (x) => x.entries.has(serial), PUBLISH_BOUND_MS);
    const entry = crl.entries.get(serial)!;
    assert.equal(entry.reason, 1);
    assert.equal(entry.invalidityDate?.toISOString(), invalidity.toISOString(), 'invalidityDate (RFC 5280 §5.3.2)');
    const name = uniqueName('cliblk');
    const { order } = await readyOrder(acme, responder!, dns(name));
    const { csr } = await makeCsr([name], { key: c.issued.key });
    assertProblem(await acme.post(order.finalize, { csr }), 400, 'badPublicKey', server!.directoryUrl);
  });

  it('after a restart, OCSP still says revoked and no CRL number went back', async () => {
    const urls = revocationUrlsOf(certs[0]!.leaf);
    const before = { shard: (await fetchCrl(urls.crl)).crl.number!, full: (await fetchCrl(urls.fullCrl)).crl.number! };
    await server!.stop();
    await start();
    assert.equal((await ocspSingle(0)).status, 'revoked');
    assert.equal((await ocspSingle(1)).status, 'revoked');
    assert.equal((await ocspSingle(2)).status, 'good');
    // Revoke once more so both CRLs are published by the new process.
    const result = await cli(['--serial', certSerial(certs[2]!.leaf), '--reason', 'cessationOfOperation']);
    assert.equal(result.code, 0, describeRun(result));
    const serial = serialHexOf(certs[2]!.leaf);
    const full = await waitForCrl(urls.fullCrl, (c) => c.entries.has(serial), PUBLISH_BOUND_MS);
    assert.equal(full.crl.entries.get(serial)!.reason, 5);
    assert.ok(full.crl.number! > before.full, `full CRL number ${before.full} → ${full.crl.number}`);
    const shard = (await fetchCrl(urls.crl)).crl.number!;
    assert.ok(shard >= before.shard, `shard CRL number ${before.shard} → ${shard}`);
  });

  it('a revocation whose stored CRL entry is missing (recorded before entries were stored) is encoded at start and listed again', async () => {
    const urls = revocationUrlsOf(certs[0]!.leaf);
    const serial = serialHexOf(certs[0]!.leaf);
    await server!.stop();
    const db = new Database(path.join(dataDir, 'anvil.db'));
    try {
      assert.equal(db.prepare('DELETE FROM crl_entries WHERE serial = ?').run(serial).changes, 1, 'its stored entry is removed');
      // A store from before stored entries has not yet run the one-time back-fill either.
      db.prepare("DELETE FROM maintenance_cursors WHERE task = 'backfill:crl-entries'").run();
    } finally {
      db.close();
    }
    await start();
    // Another revocation makes the new process publish the full CRL, which must list both.
    const other = certs[3]!;
    const result = await cli(['--serial', certSerial(other.leaf), '--reason', 'affiliationChanged']);
    assert.equal(result.code, 0, describeRun(result));
    const full = await waitForCrl(urls.fullCrl, (c) => c.entries.has(serialHexOf(other.leaf)), PUBLISH_BOUND_MS);
    assert.ok(full.crl.entries.has(serial), `the full CRL lists ${serial} again`);
    assert.equal(full.crl.entries.get(serial)!.reason, 4, 'with its reason (superseded)');
  });
});
