/**
 * Reloading profiles in a running server process (README "Profiles"): edit a profile file and
 * send SIGHUP, or run `anvil profiles reload --data-dir`; the directory's meta.profiles shows the
 * new description and new certificates follow the new version (validity measured by openssl,
 * ARI window from the new renewalWindow), while certificates issued before are never altered
 * (same bytes, same validity, same ARI window). A bad edit + SIGHUP keeps the previous set in
 * force (directory unchanged, issuance under the old version still works) and logs the error
 * naming the file and field. Issuance is done by the npm acme-client against the real process.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { acmeClientKit, type AcmeClientKit, type ClientIssued } from '../helpers/acme-client-kit.js';
import { uniqueName } from '../helpers/acme-flow.js';
import { ariCertId, getRenewalInfo, suggestedWindow, type SuggestedWindow } from '../helpers/ari-cert-id.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { opensslView } from '../helpers/openssl-cert.js';
import { makeProfileDir, type ProfileDir } from '../helpers/profile-dir.js';
import { httpsRequest } from '../helpers/raw-acme.js';
import { describeRun, readText, requireTool, run, serverEntry, splitPemChain, startAnvil, waitFor, type AcmeServer } from './harness.js';

const skip = requireTool('openssl');
const HOUR = 3_600_000;

/** Versions of the `rolling` profile the test moves through. */
const V1 = { description: 'rolling v1: 2 hours', validity: '2h', renewalWindow: { start: 0.5, end: 0.75 } };
const V2 = { description: 'rolling v2: 3 hours', validity: '3h', renewalWindow: { start: 0.25, end: 0.5 } };
const V3 = { description: 'rolling v3: 4 hours', validity: '4h', renewalWindow: { start: 0.6, end: 0.9 } };
const BAD = { description: 'rolling v4: must never be served', validity: '5 minutes' };

describe('profile reload in a running server (SIGHUP and anvil profiles reload)', { skip, timeout: 120_000 }, () => {
  let dns: TestDnsServer;
  let responder: Http01Responder;
  let profiles: ProfileDir;
  let server: AcmeServer;
  let rootPem = '';
  let kit: AcmeClientKit;
  let first: ClientIssued | undefined;
  let firstPem = '';
  let firstWindow: SuggestedWindow | undefined;

  before(async () => {
    dns = await startDnsServer();
    responder = await startHttp01Responder();
    profiles = makeProfileDir({ withBundled: true, extra: { rolling: V1 } });
    server = await startAnvil({ dnsResolver: dns.resolver, http01Port: responder.port, extraArgs: ['--profiles-dir', profiles.dir] });
    rootPem = await readText(server.rootPemPath);
    kit = await acmeClientKit(server.directoryUrl, rootPem, responder);
  });

  after(async () => {
    await server?.stop();
    await responder?.close();
    await dns?.close();
    profiles?.remove();
  });

  const directory = async (): Promise<Record<string, any>> => (await httpsRequest(server.directoryUrl, { ca: rootPem })).json;
  const metaProfiles = async (): Promise<Record<string, string>> => (await directory()).meta.profiles;
  const report = (): string => `${kit.context()}\n--- server output (tail) ---\n${server.logs().slice(-6_000)}`;

  /** Issues under `rolling`; returns the leaf, its openssl lifetime and its ARI window. */
  async function issueRolling(): Promise<{ issued: ClientIssued; leaf: string; lifetimeMs: number; notBefore: number; window: SuggestedWindow }> {
    let issued: ClientIssued;
    try {
      issued = await kit.issue({ names: [uniqueName('roll')], profile: 'rolling', keyType: 'ecdsa-p256' });
    } catch (error) {
      assert.fail(`issuance under rolling failed: ${(error as Error).message}\n${report()}`);
    }
    assert.equal(issued.order.profile, 'rolling');
    const leaf = splitPemChain(issued.chain)[0]!;
    const view = await opensslView(leaf);
    const renewalInfo = (await directory()).renewalInfo as string;
    const window = suggestedWindow(await getRenewalInfo(renewalInfo, ariCertId(leaf), rootPem));
    return { issued, leaf, lifetimeMs: view.notAfter.getTime() - view.notBefore.getTime(), notBefore: view.notBefore.getTime(), window };
  }

  function assertFractions(r: { lifetimeMs: number; notBefore: number; window: SuggestedWindow }, fractions: { start: number; end: number }, what: string): void {
    for (const edge of ['start', 'end'] as const) {
      const expected = r.notBefore + r.lifetimeMs * fractions[edge];
      assert.ok(Math.abs(r.window[edge].getTime() - expected) <= 1_000, `${what}: ARI ${edge} ${r.window[edge].toISOString()} ≠ ${new Date(expected).toISOString()}`);
    }
  }

  const waitForDescription = (description: string) =>
    waitFor(`meta.profiles.rolling to read ${JSON.stringify(description)}`, async () => (await metaProfiles()).rolling === description, 10_000, 100);

  test('v1 is served and issues 2-hour certificates with its ARI window', async () => {
    assert.equal((await metaProfiles()).rolling, V1.description);
    const r = await issueRolling();
    assert.equal(r.lifetimeMs, 2 * HOUR, 'openssl: notAfter − notBefore = 2h');
    assertFractions(r, V1.renewalWindow, 'v1 certificate');
    first = r.issued;
    firstPem = r.leaf;
    firstWindow = r.window;
  });

  test('edit + SIGHUP: meta.profiles shows v2 and new certificates are 3-hour with v2\'s window; the v1 certificate is unchanged', async () => {
    assert.ok(first && firstWindow, 'needs the v1 certificate');
    profiles.write('rolling', V2);
    process.kill(server.pid, 'SIGHUP');
    await waitForDescription(V2.description);
    // The log line may reach the pipe a moment after the reload already answers.
    await waitFor('the reload to be logged', () => /profiles reloaded/.test(server.logs()), 10_000, 50);

    const r = await issueRolling();
    assert.equal(r.lifetimeMs, 3 * HOUR, 'openssl: a certificate issued after the reload has v2\'s 3h');
    assertFractions(r, V2.renewalWindow, 'v2 certificate');

    // RFC 8555 §7.4.2: the certificate URL serves the same certificate; the profile change never alters it.
    const again = await kit.client.getCertificate(first.order);
    assert.equal(splitPemChain(again)[0], firstPem, 'the v1 certificate is byte-for-byte the same');
    const v1View = await opensslView(firstPem);
    assert.equal(v1View.notAfter.getTime() - v1View.notBefore.getTime(), 2 * HOUR, 'and keeps its 2h validity');
    const renewalInfo = (await directory()).renewalInfo as string;
    const windowNow = suggestedWindow(await getRenewalInfo(renewalInfo, ariCertId(firstPem), rootPem));
    assert.deepEqual(windowNow, firstWindow, 'its ARI window is fixed at issuance (README "Profiles")');
  });

  test('edit + `anvil profiles reload --data-dir`: v3 and a new profile file are served; new certificates are 4-hour', async () => {
    profiles.write('rolling', V3);
    profiles.write('added', { description: 'added while running', validity: '1h' });
    const result = await run(process.execPath, [serverEntry(), 'profiles', 'reload', '--data-dir', server.dataDir], { timeoutMs: 20_000 });
    assert.equal(result.code, 0, describeRun(result));
    await waitForDescription(V3.description);
    assert.equal((await metaProfiles()).added, 'added while running');

    const r = await issueRolling();
    assert.equal(r.lifetimeMs, 4 * HOUR, 'openssl: 4h after the CLI reload');
    assertFractions(r, V3.renewalWindow, 'v3 certificate');
  });

  test('a bad edit + SIGHUP keeps the previous set: error logged with file and field, directory unchanged, issuance under v3 still works', async () => {
    const before = await metaProfiles();
    assert.equal(before.rolling, V3.description);
    const file = profiles.write('rolling', BAD);
    const logLength = server.logs().length;
    process.kill(server.pid, 'SIGHUP');
    await waitFor('the refused reload to be logged', () => /profile reload refused/.test(server.logs().slice(logLength)), 10_000, 100);
    const logged = server.logs().slice(logLength);
    assert.ok(logged.includes(file), `the log names the file ${file}:\n${logged}`);
    assert.match(logged, /field validity/, `the log names the field:\n${logged}`);

    assert.deepEqual(await metaProfiles(), before, 'meta.profiles is unchanged');
    assert.notEqual((await metaProfiles()).rolling, BAD.description);
    const r = await issueRolling();
    assert.equal(r.lifetimeMs, 4 * HOUR, 'still issuing under v3');
    assertFractions(r, V3.renewalWindow, 'certificate after a refused reload');
    assert.equal((await directory()).meta.profiles.added, 'added while running', 'the whole previous set stays, not just the edited file');
  });

  test('removing the default profile file + SIGHUP is refused too; the default keeps issuing', async () => {
    profiles.write('rolling', V3);
    const before = await metaProfiles();
    rmSync(join(profiles.dir, 'default.yaml'));
    const logLength = server.logs().length;
    process.kill(server.pid, 'SIGHUP');
    await waitFor('the refused reload to be logged', () => /profile reload refused/.test(server.logs().slice(logLength)), 10_000, 100);
    assert.match(server.logs().slice(logLength), /default profile default is not defined/);
    assert.deepEqual(await metaProfiles(), before);
    let order;
    try {
      order = await kit.issue({ names: [uniqueName('dflt')], keyType: 'ecdsa-p256' });
    } catch (error) {
      assert.fail(`issuance without a profile failed after a refused reload: ${(error as Error).message}\n${report()}`);
    }
    assert.equal(order.order.profile, 'default');
  });
});
