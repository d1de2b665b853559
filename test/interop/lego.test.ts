/**
 * Interop: lego 4.9 (Debian) against Anvil — issue for two names with lego's own http-01
 * server, renew, revoke (lego signs revocations with the account key), and revoke twice
 * (RFC 8555 §7.6 alreadyRevoked).
 */
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { legoHttp, runLego } from './clients.js';
import { certSerial, failureReport, opensslSans, opensslVerify, readText, requireTool, splitPemChain, startServer, type AcmeServer, type RunResult } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const NAMES = ['a.test', 'b.test'];
const EMAIL = 'interop@example.test';
const skip = requireTool('lego') || requireTool('openssl');

describe('lego against Anvil', { skip, timeout: 600_000 }, () => {
  let stack: InteropStack | undefined;
  let server: AcmeServer | undefined;
  let work = '';
  let rootPem = '';
  let firstSerial: string | undefined;
  let renewedSerial: string | undefined;

  /** lego names its files after the first domain. */
  const certFile = (suffix: string): string => path.join(work, 'lego', 'certificates', `${NAMES[0]}${suffix}`);

  /**
   * Runs lego with this test's storage path, trust and http-01 listener; `verb` is run/renew/revoke
   * plus its flags. lego's revoke handles each --domains as its own certificate file, so revocations
   * name only the first domain (the certificate's file name).
   */
  async function lego(verb: string[], domains: readonly string[] = NAMES): Promise<RunResult> {
    const args = [...domains.flatMap((name) => ['--domains', name]), ...legoHttp(stack!.http01Port), ...verb];
    return runLego(server!, { email: EMAIL, path: path.join(work, 'lego') }, args);
  }

  /** `<domain>.crt` must be leaf + intermediate, verify against the root, and name exactly NAMES. */
  async function assertCurrentCertificate(): Promise<string> {
    const bundle = await readText(certFile('.crt'));
    const certs = splitPemChain(bundle);
    assert.equal(certs.length, 2, `the downloaded chain is leaf + intermediate, got:\n${bundle}`);
    const issuer = await readText(certFile('.issuer.crt'));
    assert.equal(splitPemChain(issuer)[0], certs[1], 'lego saved the chain\'s second certificate as the issuer');
    const verify = await opensslVerify(rootPem, certs[1]!, certs[0]!);
    assert.ok(verify.ok, `openssl verify of the leaf against root.pem with the chain's intermediate\n${verify.output}`);
    assert.deepEqual(await opensslSans(certs[0]!), NAMES.map((name) => `DNS:${name}`).sort());
    return certSerial(certs[0]!);
  }

  before(async () => {
    stack = await openStack('anvil-interop-lego-');
    work = stack.work;
    ({ server, rootPem } = await stack.start({ launch: startServer }));
  });

  after(() => stack?.close());

  it('lego issues a two-name certificate that verifies against the root', async () => {
    const result = await lego(['run']);
    assert.equal(result.code, 0, failureReport(result, server!));
    firstSerial = await assertCurrentCertificate();
    await copyFile(certFile('.crt'), path.join(work, 'first.crt'));
  });

  it('lego renew --days 10000 --no-random-sleep gets a new certificate with a different serial that also verifies', async () => {
    assert.ok(firstSerial, 'needs the certificate issued by the previous test');
    const result = await lego(['renew', '--days', '10000', '--no-random-sleep']);
    assert.equal(result.code, 0, failureReport(result, server!));
    renewedSerial = await assertCurrentCertificate();
    assert.notEqual(renewedSerial, firstSerial, 'the renewed certificate has a new serial number');
  });

  it('lego revokes the renewed certificate', async () => {
    assert.ok(renewedSerial, 'needs the certificate renewed by the previous test');
    const result = await lego(['revoke', '--reason', '1', '--keep'], [NAMES[0]!]);
    assert.equal(result.code, 0, failureReport(result, server!));
    assert.equal(certSerial(await readText(certFile('.crt'))), renewedSerial, 'lego revoked the renewed certificate (kept by --keep)');
  });

  it('lego revoking the same certificate again fails with alreadyRevoked', async () => {
    assert.ok(renewedSerial, 'needs the certificate renewed by the earlier test');
    const result = await lego(['revoke', '--reason', '1', '--keep'], [NAMES[0]!]);
    assert.notEqual(result.code, 0, `a second revocation must fail\n${failureReport(result, server!)}`);
    assert.match(`${result.stdout}\n${result.stderr}`, /urn:ietf:params:acme:error:alreadyRevoked/, failureReport(result, server!));
  });

  it('lego revokes the first certificate, which renewal left unrevoked', async () => {
    assert.ok(firstSerial, 'needs the certificate issued by the first test');
    // lego revokes whatever <domain>.crt holds: put the first certificate back there.
    await copyFile(path.join(work, 'first.crt'), certFile('.crt'));
    const result = await lego(['revoke', '--reason', '4'], [NAMES[0]!]);
    assert.equal(result.code, 0, failureReport(result, server!));
  });
});
