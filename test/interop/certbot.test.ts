/**
 * Interop: certbot 2.1 (Debian) against Anvil — issue for two names with the standalone http-01
 * authenticator, renew, revoke by account key, revoke twice (RFC 8555 §7.6 alreadyRevoked),
 * and revoke by certificate key.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certbotIn, standaloneCertonly, type Certbot } from './clients.js';
import { certSerial, failureReport, fileTail, opensslSans, opensslVerify, readText, requireTool, splitPemChain, startServer, type AcmeServer, type RunResult } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const NAMES = ['a.test', 'b.test'];
const skip = requireTool('certbot') || requireTool('openssl');

describe('certbot against Anvil', { skip, timeout: 600_000 }, () => {
  let stack: InteropStack | undefined;
  let server: AcmeServer | undefined;
  let certbot: Certbot;
  let rootPem = '';
  /** Serials of the first and the renewed certificate, for the later tests. */
  let firstSerial: string | undefined;
  let renewedSerial: string | undefined;

  const live = (file: string): string => path.join(certbot.configDir, 'live', NAMES[0]!, file);
  const archive = (file: string): string => path.join(certbot.configDir, 'archive', NAMES[0]!, file);

  async function report(result: RunResult): Promise<string> {
    return failureReport(result, server!, await fileTail(certbot.lastLog));
  }

  /**
   * A revocation that must be refused as already revoked. certbot 2.1 on Python 3.11 hides ACME
   * problems behind "AttributeError: can't set attribute" on stderr, so the problem type is read
   * from its debug log, which records the server's response.
   */
  async function assertAlreadyRevoked(result: RunResult): Promise<void> {
    assert.notEqual(result.code, 0, `a second revocation must fail\n${await report(result)}`);
    const log = await readText(certbot.lastLog);
    const said = `${result.stdout}\n${result.stderr}\n${log}`;
    assert.match(said, /urn:ietf:params:acme:error:alreadyRevoked/, `the server must answer alreadyRevoked\n${await report(result)}`);
  }

  /** The live chain must be leaf + intermediate, verify against the root, and name exactly NAMES. */
  async function assertLiveCertificate(): Promise<string> {
    const leaf = await readText(live('cert.pem'));
    const chain = await readText(live('chain.pem'));
    const fullchain = await readText(live('fullchain.pem'));
    assert.equal(splitPemChain(leaf).length, 1, 'cert.pem holds exactly the leaf');
    assert.equal(splitPemChain(fullchain).length, 2, `the downloaded chain is leaf + intermediate, got:\n${fullchain}`);
    assert.ok(splitPemChain(chain).length >= 1, 'chain.pem holds the intermediate');
    const verify = await opensslVerify(rootPem, chain, leaf);
    assert.ok(verify.ok, `openssl verify of the leaf against root.pem with the chain's intermediate\n${verify.output}`);
    assert.deepEqual(await opensslSans(leaf), NAMES.map((name) => `DNS:${name}`).sort());
    return certSerial(leaf);
  }

  before(async () => {
    stack = await openStack('anvil-interop-certbot-');
    ({ server, rootPem } = await stack.start({ launch: startServer }));
    certbot = certbotIn(stack.work, server);
  });

  after(() => stack?.close());

  it('certbot issues a two-name certificate that verifies against the root', async () => {
    const result = await certbot.run(standaloneCertonly(stack!.http01Port, NAMES));
    assert.equal(result.code, 0, await report(result));
    firstSerial = await assertLiveCertificate();
  });

  it('certbot update_account -m changes the contact (it posts the account back with "status": "valid")', async () => {
    const result = await certbot.run(['update_account', '-m', 'new@example.com']);
    assert.equal(result.code, 0, await report(result));
    const log = await readText(certbot.lastLog);
    assert.match(result.stdout, /e-mail address was updated to new@example.com/, await report(result));
    assert.match(log, /"status":\s*"valid"/, 'certbot posted the account object back with its status');
    assert.match(log, /"contact":\s*\[\s*"mailto:new@example.com"\s*\]/, `the server's answer carries the new contact\n${await report(result)}`);
  });

  it('certbot renew --force-renewal gets a new certificate with a different serial that also verifies', async () => {
    assert.ok(firstSerial, 'needs the certificate issued by the previous test');
    // No --server: certbot must renew from the lineage's renewal configuration, as in production.
    const result = await certbot.run(['renew', '--force-renewal', '--no-random-sleep-on-renew'], false);
    assert.equal(result.code, 0, await report(result));
    renewedSerial = await assertLiveCertificate();
    assert.notEqual(renewedSerial, firstSerial, 'the renewed certificate has a new serial number');
  });

  it('certbot revokes the renewed certificate with the account key', async () => {
    assert.ok(renewedSerial, 'needs the certificate renewed by the previous test');
    const result = await certbot.run(['revoke', '--cert-path', live('cert.pem'), '--reason', 'keycompromise', '--no-delete-after-revoke']);
    assert.equal(result.code, 0, await report(result));
  });

  it('certbot revoking the same certificate again fails with alreadyRevoked', async () => {
    assert.ok(renewedSerial, 'needs the certificate renewed by the earlier test');
    const result = await certbot.run(['revoke', '--cert-path', live('cert.pem'), '--reason', 'keycompromise', '--no-delete-after-revoke']);
    await assertAlreadyRevoked(result);
  });

  it('certbot revokes the first certificate with its own certificate key', async () => {
    assert.ok(firstSerial, 'needs the certificate issued by the first test');
    const cert = archive('cert1.pem');
    assert.equal(certSerial(await readText(cert)), firstSerial, 'archive/cert1.pem is the first certificate');
    const result = await certbot.run(['revoke', '--cert-path', cert, '--key-path', archive('privkey1.pem'), '--reason', 'keycompromise', '--no-delete-after-revoke']);
    assert.equal(result.code, 0, await report(result));
    const again = await certbot.run(['revoke', '--cert-path', cert, '--key-path', archive('privkey1.pem'), '--reason', 'keycompromise', '--no-delete-after-revoke']);
    await assertAlreadyRevoked(again);
  });
});
