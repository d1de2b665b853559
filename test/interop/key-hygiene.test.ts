/**
 * Interop: no private key material at rest or in logs. A server with a configured key passphrase
 * (so no `dev-passphrase` file exists) serves certbot, lego (with External Account Binding),
 * acme-client and a workload-identity token challenge (tkauth-01, one forged token too); lego
 * revokes (OCSP and CRL signing) and `anvil ca rotate` adds a new intermediate while it runs.
 * Then the whole data directory — SQLite database and WAL included, scanned while the server
 * runs and again after it stopped — must hold no unencrypted private key PEM, every key file
 * must be `ENCRYPTED PRIVATE KEY`, and neither the clients' leaf keys nor the CA keys' secret
 * scalars, the passphrase or the EAB HMAC key may appear in any form (README "Data directory":
 * keys encrypted at rest, EAB keys sealed). The server's stdout/stderr must hold none of those,
 * nor the bearer tokens.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { acmeClientKit } from '../helpers/acme-client-kit.js';
import { makeCsr, poll, postAsGet } from '../helpers/acme-flow.js';
import { orderChallenge, respondAndSettle } from '../helpers/challenge-flow.js';
import { filesContaining, filesUnder, PLAINTEXT_KEY_MARKERS, privateKeyFiles, secretForms } from '../helpers/data-dir-scan.js';
import { anvilCli, createEab, INTEROP_PASSPHRASE, type EabCredential } from '../helpers/eab.js';
import { startHttp01Responder } from '../helpers/http01-responder.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { fingerprintOf, startTokenAuthority, thumbprintOf, timeClaims, type TokenAuthority } from '../helpers/token-authority.js';
import { certbotIn, legoHttp, runLego, standaloneCertonly } from './clients.js';
import { describeRun, failureReport, fileTail, freePort, readText, requireTool, type AcmeServer, type RunResult } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const skip = requireTool('certbot') || requireTool('lego') || requireTool('openssl');
const TOKEN_ISSUER = 'https://ci.example.test';
const TOKEN_NAME = 'kh-token.test';

/** A secret and where it came from, for messages. */
interface Secret {
  what: string;
  bytes: Buffer;
}

describe('key hygiene: no private key material unencrypted in the data directory or the logs', { skip, timeout: 180_000 }, () => {
  let work = '';
  let dataDir = '';
  let stack: InteropStack | undefined;
  let authority: TokenAuthority | undefined;
  let server: AcmeServer | undefined;
  let http01Port = 0;
  let rootPem = '';
  let eab: EabCredential | undefined;
  const leafKeys: { what: string; pem: string }[] = [];
  const tokens: { what: string; jwt: string }[] = [];
  const cliOutputs: RunResult[] = [];
  let serverLogs = '';

  /** Every secret that must not be stored or logged: leaf key forms, the passphrase, the EAB key (raw and text). */
  function secrets(): Secret[] {
    const out: Secret[] = [{ what: 'the key passphrase', bytes: Buffer.from(INTEROP_PASSPHRASE) }];
    for (const leaf of leafKeys) for (const form of secretForms(leaf.pem)) out.push({ what: `${leaf.what} leaf key (${form.name})`, bytes: form.bytes });
    if (eab) {
      out.push({ what: 'EAB HMAC key (base64url)', bytes: Buffer.from(eab.hmacKey) });
      out.push({ what: 'EAB HMAC key (raw bytes)', bytes: Buffer.from(eab.hmacKey, 'base64url') });
    }
    return out;
  }

  /** The secret scalars of every CA key in the data directory (decrypted here, with the passphrase). */
  function caKeySecrets(): Secret[] {
    const out: Secret[] = [];
    for (const { file, encrypted } of privateKeyFiles(dataDir)) {
      if (!encrypted) continue;
      for (const form of secretForms(readFileSyncUtf8(file), INTEROP_PASSPHRASE)) {
        if (form.name.startsWith('PKCS#8')) continue; // the plaintext DER is what the file encrypts
        out.push({ what: `${path.relative(dataDir, file)} (${form.name})`, bytes: form.bytes });
      }
    }
    return out;
  }

  /** Everything wrong with the data directory right now. */
  function dataDirProblems(): string[] {
    const problems: string[] = [];
    if (existsSync(path.join(dataDir, 'dev-passphrase'))) problems.push('dev-passphrase exists although ANVIL_KEY_PASSPHRASE is set');
    for (const marker of PLAINTEXT_KEY_MARKERS) for (const file of filesContaining(dataDir, marker)) problems.push(`${file} contains "${marker}"`);
    for (const { file, encrypted } of privateKeyFiles(dataDir)) if (!encrypted) problems.push(`${file} holds a private key that is not ENCRYPTED PRIVATE KEY`);
    for (const file of filesUnder(dataDir).filter((f) => f.endsWith('.key.pem') || f.endsWith('.key'))) {
      if (!readFileSyncUtf8(file).startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----')) problems.push(`${file} is not an encrypted PKCS#8 PEM`);
    }
    for (const secret of [...secrets(), ...caKeySecrets()]) for (const file of filesContaining(dataDir, secret.bytes)) problems.push(`${file} contains ${secret.what}`);
    return problems;
  }

  before(async () => {
    stack = await openStack('anvil-interop-keys-');
    ({ work, http01Port } = stack);
    dataDir = path.join(work, 'data');
    authority = await startTokenAuthority();
    stack.onClose(() => authority?.close());
    const revocationPort = await freePort();
    const validators = path.join(work, 'validators.yaml');
    await writeFile(
      validators,
      JSON.stringify({
        tokenAuthorities: [{ name: 'ci', issuer: TOKEN_ISSUER, jwksUrl: authority.jwksUrl, algorithms: ['ES256'], binding: 'fingerprint' }],
        tokenRules: [{ authority: 'ci', match: { repository: 'org/app' }, identifiers: [TOKEN_NAME] }],
      }),
    );
    ({ server, rootPem } = await stack.start({
      dataDir,
      extraArgs: ['--revocation-listen', `127.0.0.1:${revocationPort}`, '--crl-revocation-delay', '1s', '--validators-config', validators, '--log-level', 'debug'],
    }));
  }, { timeout: 90_000 });

  after(() => stack?.close());

  it('clients get certificates: certbot, lego with EAB, acme-client, a tkauth-01 token; lego revokes; anvil ca rotate runs', async () => {
    // certbot (standalone http-01 binds the port itself).
    const certbot = certbotIn(path.join(work, 'certbot'), server!);
    const certbotRun = await certbot.run(standaloneCertonly(http01Port, ['kh-certbot.test']));
    assert.equal(certbotRun.code, 0, failureReport(certbotRun, server!, await fileTail(certbot.lastLog)));
    leafKeys.push({ what: 'certbot', pem: await readText(path.join(certbot.configDir, 'live', 'kh-certbot.test', 'privkey.pem')) });

    // lego with External Account Binding, then revocation (OCSP pre-signing, CRL publication).
    eab = await createEab(dataDir, ['--dns-suffix', '.test', '--note', 'key hygiene']);
    const legoPath = path.join(work, 'lego');
    const lego = (verb: string[]) =>
      runLego(server!, { email: 'keys@example.test', path: legoPath, timeoutMs: 60_000 }, ['--domains', 'kh-lego.test', ...legoHttp(http01Port), '--eab', '--kid', eab!.kid, '--hmac', eab!.hmacKey, ...verb]);
    const legoRun = await lego(['run']);
    assert.equal(legoRun.code, 0, failureReport(legoRun, server!));
    leafKeys.push({ what: 'lego', pem: await readText(path.join(legoPath, 'certificates', 'kh-lego.test.key')) });
    const legoRevoke = await lego(['revoke', '--reason', '1']);
    assert.equal(legoRevoke.code, 0, failureReport(legoRevoke, server!));

    // acme-client (RSA leaf, so RSA key forms are searched too) and a tkauth-01 token, through one http-01 responder.
    const responder = await startHttp01Responder(http01Port);
    try {
      const kit = await acmeClientKit(server!.directoryUrl, rootPem, responder);
      const issued = await kit.issue({ names: ['kh-acmeclient.test'], keyType: 'rsa2048' });
      leafKeys.push({ what: 'acme-client', pem: issued.key.toString() });

      const acme = await new RawAcme(server!.directoryUrl, rootPem).init();
      assert.equal((await acme.register()).status, 201);
      const fingerprint = fingerprintOf(await thumbprintOf(acme.key.jwk));
      const claims = { iss: TOKEN_ISSUER, aud: server!.directoryUrl, sub: 'job-1', repository: 'org/app', atc: { fingerprint } };
      const forged = await authority!.forge({ ...claims, ...timeClaims() });
      tokens.push({ what: 'forged token', jwt: forged });
      const refused = await respondAndSettle(acme, await orderChallenge(acme, { type: 'dns', value: TOKEN_NAME }, 'tkauth-01', { profile: 'ci-ephemeral' }), { tkauth: forged });
      assert.equal(refused.authz.status, 'invalid', JSON.stringify(refused.authz));
      const jwt = await authority!.sign({ ...claims, ...timeClaims() });
      tokens.push({ what: 'token', jwt });
      const pending = await orderChallenge(acme, { type: 'dns', value: TOKEN_NAME }, 'tkauth-01', { profile: 'ci-ephemeral' });
      const settled = await respondAndSettle(acme, pending, { tkauth: jwt });
      assert.equal(settled.authz.status, 'valid', JSON.stringify(settled.authz));
      const ready = await poll(acme, pending.orderUrl, (b) => b.status !== 'pending');
      const { csr, key } = await makeCsr([TOKEN_NAME]);
      assert.equal((await acme.post(ready.json.finalize, { csr })).status, 200);
      const valid = await poll(acme, pending.orderUrl, (b) => b.status !== 'processing' && b.status !== 'ready');
      assert.equal(valid.json.status, 'valid', valid.body);
      assert.equal((await postAsGet(acme, valid.json.certificate)).status, 200);
      leafKeys.push({ what: 'tkauth-01 client', pem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    } finally {
      await responder.close();
    }

    // A rotation while the server runs writes a new intermediate key (and, on reload, an OCSP responder key).
    const rotate = await anvilCli(['ca', 'rotate', '--data-dir', dataDir]);
    cliOutputs.push(rotate);
    assert.equal(rotate.code, 0, describeRun(rotate));
    const status = await anvilCli(['ca', 'status', '--data-dir', dataDir]);
    cliOutputs.push(status);
    assert.equal(status.code, 0, describeRun(status));
    // Give the reload time to create the new issuer's OCSP responder key before scanning.
    const deadline = Date.now() + 6_000;
    while (Date.now() < deadline && filesUnder(path.join(dataDir, 'ca', 'ocsp')).filter((f) => f.endsWith('.key.pem')).length < 2) await new Promise((r) => setTimeout(r, 100));
    assert.ok(leafKeys.length === 4 && tokens.length === 2 && eab);
  });

  it('while the server runs (database WAL included): no plaintext key, every key file encrypted, no leaf/CA key bytes, passphrase or EAB key', () => {
    assert.ok(existsSync(path.join(dataDir, 'anvil.db-wal')) || existsSync(path.join(dataDir, 'anvil.db')), 'the database is there');
    assert.ok(privateKeyFiles(dataDir).length >= 4, `roots, intermediates, OCSP responders, TLS: ${privateKeyFiles(dataDir).map((k) => k.file).join(', ')}`);
    // Control: the scan does reach the store. Each leaf's public-key digest, kept as hex next to its
    // certificate (the certificate's own DER may be stored deflated), is found in it.
    for (const leaf of leafKeys) {
      const spki = createPublicKey(leaf.pem).export({ type: 'spki', format: 'der' });
      const digest = createHash('sha256').update(spki).digest('hex');
      assert.ok(filesContaining(dataDir, digest).some((f) => path.basename(f).startsWith('anvil.db')), `the ${leaf.what} leaf's public-key digest is in the database or its WAL`);
    }
    assert.deepEqual(dataDirProblems(), []);
  });

  it('the server logs (debug level) hold no private key, passphrase, EAB HMAC key or token; nor do the CLI outputs', async () => {
    serverLogs = server!.logs();
    assert.ok(serverLogs.length > 1000, 'the server logged');
    const problems: string[] = [];
    const texts = [{ what: 'server log', text: serverLogs }, ...cliOutputs.map((r) => ({ what: r.commandLine, text: `${r.stdout}\n${r.stderr}` }))];
    const needles: Secret[] = [
      { what: 'a PRIVATE KEY PEM marker', bytes: Buffer.from('PRIVATE KEY-----') },
      ...secrets(),
      ...caKeySecrets(),
      ...tokens.flatMap((t) => [
        { what: t.what, bytes: Buffer.from(t.jwt) },
        { what: `${t.what} signature`, bytes: Buffer.from(t.jwt.split('.')[2]!) },
      ]),
    ];
    for (const { what, text } of texts) {
      const bytes = Buffer.from(text);
      for (const needle of needles) if (bytes.includes(needle.bytes)) problems.push(`${what} contains ${needle.what}`);
    }
    assert.deepEqual(problems, []);
  });

  it('after the server stopped (WAL checkpointed into the database): the same holds', async () => {
    await server!.stop();
    assert.deepEqual(dataDirProblems(), []);
  });
});

function readFileSyncUtf8(file: string): string {
  return readFileSync(file, 'utf8');
}
