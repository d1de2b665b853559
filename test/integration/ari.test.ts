/**
 * ACME Renewal Information (RFC 9773) against an in-process server: the renewalInfo resource
 * (§4.1, unauthenticated GET of base64url(AKI keyIdentifier) "." base64url(serial)), its
 * suggested window (§4.2) from the profile's renewalWindow, the moves README "Renewal
 * information" promises (revocation, `anvil renew-fleet` run as a separate process on the same
 * data directory, replacement), malformed and unknown certificate identifiers, and newOrder
 * `replaces` (§5) with each refusal. CertIDs are computed here from the certificates' DER, not
 * taken from the server.
 */
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertOk, assertProblem, header, mediaType } from '../helpers/acme-assert.js';
import { startAcmeFixture, type AcmeFixture } from '../helpers/acme-fixture.js';
import { dns, newOrder, pemToBase64url, postAsGet, uniqueName } from '../helpers/acme-flow.js';
import { ariCertId, certIdBytes, getRenewalInfo, suggestedWindow, type SuggestedWindow } from '../helpers/ari-cert-id.js';
import type { Http01Responder } from '../helpers/http01-responder.js';
import { makeProfileDir, type ProfileDir } from '../helpers/profile-dir.js';
import { finalizeAndDownload, issueWith, readyOrderWith } from '../helpers/profile-flow.js';
import { httpsRequest, RawAcme } from '../helpers/raw-acme.js';
import type { TestServer } from '../helpers/test-server.js';
import { describeRun, run, serverEntry } from '../interop/harness.js';

const HOUR = 3_600_000;

let fx: AcmeFixture;
let responder: Http01Responder;
let profiles: ProfileDir;
let srv: TestServer;
let dir: string;
let renewalInfoUrl: string;
let acme: RawAcme;
let other: RawAcme;

before(async () => {
  // The shipped profiles plus one with a distinctive window, to prove the fractions come from the profile.
  profiles = makeProfileDir({
    withBundled: true,
    extra: { quarter: { description: 'ARI window from 1/4 to 1/2 of an 8h lifetime', validity: '8h', renewalWindow: { start: 0.25, end: 0.5 } } },
  });
  fx = await startAcmeFixture({ '--profiles-dir': profiles.dir });
  ({ responder, srv, acme } = fx);
  dir = srv.directoryUrl;
  other = await fx.register();
  renewalInfoUrl = acme.directory.renewalInfo;
});

after(async () => {
  await fx?.close();
  profiles?.remove();
});

/** GET renewalInfo for a certificate and return its parsed window (asserting 200 JSON with Retry-After). */
async function windowOf(leafPem: string): Promise<SuggestedWindow & { retryAfter: number }> {
  const res = await getRenewalInfo(renewalInfoUrl, ariCertId(leafPem), srv.rootPem);
  assert.equal(res.status, 200, `renewalInfo: ${res.status} ${res.body}`);
  assert.equal(mediaType(res), 'application/json');
  const retryAfter = header(res, 'retry-after');
  assert.match(retryAfter, /^\d+$/, 'Retry-After in seconds (RFC 9773 §4.2)');
  return { ...suggestedWindow(res), retryAfter: Number(retryAfter) };
}

/** The window start/end the profile's fractions give for this certificate (RFC 9773 §4.2 via README). */
function expectedWindow(leafPem: string, fractions: { start: number; end: number }): SuggestedWindow {
  const cert = new X509Certificate(leafPem);
  const notBefore = Date.parse(cert.validFrom);
  const lifetime = Date.parse(cert.validTo) - notBefore;
  return { start: new Date(notBefore + lifetime * fractions.start), end: new Date(notBefore + lifetime * fractions.end) };
}

function assertWindowNear(actual: SuggestedWindow, expected: SuggestedWindow, what: string): void {
  for (const edge of ['start', 'end'] as const) {
    const delta = Math.abs(actual[edge].getTime() - expected[edge].getTime());
    assert.ok(delta <= 1_000, `${what}: ${edge} ${actual[edge].toISOString()} should be ${expected[edge].toISOString()} (±1 s)`);
  }
}

function assertInPast(w: SuggestedWindow, what: string): void {
  const now = Date.now();
  assert.ok(w.start < w.end, `${what}: start before end`);
  assert.ok(w.end.getTime() < now, `${what}: the whole window is in the past (RFC 9773 §4.2 "renew now"), end ${w.end.toISOString()}`);
}

const notAfterOf = (leafPem: string): number => Date.parse(new X509Certificate(leafPem).validTo);

/** `node dist/src/cli/main.js <args>` as its own process. */
function anvilCli(args: string[]) {
  return run(process.execPath, [serverEntry(), ...args], { timeoutMs: 30_000, env: { ANVIL_KEY_PASSPHRASE: 'test-passphrase' } });
}

describe('renewalInfo resource (RFC 9773 §4)', () => {
  test('the directory advertises renewalInfo on this server', () => {
    assert.equal(typeof renewalInfoUrl, 'string');
    assert.ok(renewalInfoUrl.startsWith(`${srv.baseUrl}/`), renewalInfoUrl);
  });

  test('a fresh default certificate: 200 suggestedWindow at notBefore + lifetime × (0.6667, 0.75); Retry-After an eighth of the lifetime', async () => {
    const { leafPem } = await issueWith(acme, responder, [uniqueName('ari')]);
    const w = await windowOf(leafPem);
    assertWindowNear(w, expectedWindow(leafPem, { start: 0.6667, end: 0.75 }), 'default profile window');
    assert.equal(w.retryAfter, (24 * HOUR) / 8 / 1000, 'README: Retry-After is an eighth of the lifetime (3 h for 24 h)');
  });

  test('the window follows the profile\'s renewalWindow (quarter: 0.25–0.5 of 8 h)', async () => {
    const { leafPem } = await issueWith(acme, responder, [uniqueName('q')], { profile: 'quarter' });
    const w = await windowOf(leafPem);
    assertWindowNear(w, expectedWindow(leafPem, { start: 0.25, end: 0.5 }), 'quarter profile window');
    assert.equal(w.retryAfter, HOUR / 1000);
  });

  test('the window follows shipped shortlived (0.5–0.6667 of 12 h)', async () => {
    const { leafPem } = await issueWith(acme, responder, [uniqueName('sl')], { profile: 'shortlived' });
    assertWindowNear(await windowOf(leafPem), expectedWindow(leafPem, { start: 0.5, end: 0.6667 }), 'shortlived window');
  });

  test('it is an unauthenticated GET: no JWS, no account, any client may ask', async () => {
    const { leafPem } = await issueWith(acme, responder, [uniqueName('anon')]);
    const res = await httpsRequest(`${renewalInfoUrl}/${ariCertId(leafPem)}`, { ca: srv.rootPem, headers: {} });
    assert.equal(res.status, 200, res.body);
    assert.ok(res.json.suggestedWindow, res.body);
  });

  test('after revokeCert the window is entirely in the past', async () => {
    const { leafPem } = await issueWith(acme, responder, [uniqueName('rv')]);
    const before = await windowOf(leafPem);
    assert.ok(before.start.getTime() > Date.now(), 'a fresh certificate is not due yet');
    assertOk(await acme.post(acme.directory.revokeCert, { certificate: pemToBase64url(leafPem), reason: 4 }), 200, dir);
    assertInPast(await windowOf(leafPem), 'revoked certificate');
  });

  describe('malformed certificate identifiers are 400 malformed', () => {
    let aki = '';
    let serial = '';
    before(async () => {
      const { leafPem } = await issueWith(acme, responder, [uniqueName('mal')]);
      const parts = certIdBytes(leafPem);
      aki = parts.keyIdentifier.toString('base64url');
      serial = parts.serial.toString('base64url');
    });
    const cases: [string, () => string][] = [
      ['no dot', () => `${aki}${serial}`],
      ['two dots', () => `${aki}.${serial}.${serial}`],
      ['characters outside base64url (+)', () => `${aki}.${serial.slice(0, -2)}+A`],
      ['characters outside base64url (~)', () => `${aki.slice(0, -1)}~.${serial}`],
      ['padding "="', () => `${aki}.${serial}==`],
      ['padding "=" on the key identifier', () => `${aki}=.${serial}`],
      ['empty key identifier', () => `.${serial}`],
      ['empty serial', () => `${aki}.`],
      ['negative serial (high bit set, no leading zero)', () => `${aki}.${Buffer.from([0x80, 0x01, 0x02]).toString('base64url')}`],
    ];
    for (const [what, certId] of cases) {
      test(what, async () => {
        const res = await getRenewalInfo(renewalInfoUrl, certId(), srv.rootPem);
        const problem = assertProblem(res, 400, 'malformed', dir);
        assert.ok(problem.detail.length > 0);
      });
    }
  });

  // A certificate whose issuer is retiring gets a window in the past: test/interop/rotation.test.ts,
  // which rotates the issuer of a running server.

  test('an unknown certificate is 404 (known issuer with an unknown serial, and an unknown issuer)', async () => {
    const { leafPem } = await issueWith(acme, responder, [uniqueName('unk')]);
    const { keyIdentifier, serial } = certIdBytes(leafPem);
    const unknownSerial = Buffer.concat([Buffer.from([0x01]), randomBytes(15)]).toString('base64url');
    const res1 = await getRenewalInfo(renewalInfoUrl, `${keyIdentifier.toString('base64url')}.${unknownSerial}`, srv.rootPem);
    assert.equal(res1.status, 404, res1.body);
    const res2 = await getRenewalInfo(renewalInfoUrl, `${randomBytes(20).toString('base64url')}.${serial.toString('base64url')}`, srv.rootPem);
    assert.equal(res2.status, 404, res2.body);
  });
});

describe('newOrder replaces (RFC 9773 §5)', () => {
  test('happy path: 201, the order proceeds and issues; then the replaced certificate\'s window moves to the end of its life', async () => {
    const shared = uniqueName('rep');
    const original = await issueWith(acme, responder, [shared, uniqueName('rep2')]);
    const originalWindow = await windowOf(original.leafPem);
    const certId = ariCertId(original.leafPem);

    const { url, order } = await readyOrderWith(acme, responder, dns(shared), { replaces: certId });
    const replacement = await finalizeAndDownload(acme, url, order);
    assert.notEqual(ariCertId(replacement.leafPem), certId, 'a new certificate');

    const moved = await windowOf(original.leafPem);
    const notAfter = notAfterOf(original.leafPem);
    assert.ok(Math.abs(moved.end.getTime() - notAfter) <= 1_000, `end moves to the replaced certificate's notAfter: ${moved.end.toISOString()}`);
    assert.ok(moved.start.getTime() >= originalWindow.end.getTime(), `start moves past the original window: ${moved.start.toISOString()}`);
    assert.ok(moved.start < moved.end);
    // The replacement itself keeps its ordinary window.
    assertWindowNear(await windowOf(replacement.leafPem), expectedWindow(replacement.leafPem, { start: 0.6667, end: 0.75 }), 'replacement window');
  });

  test('the order reflects "replaces" in the newOrder response and on POST-as-GET', async () => {
    const name = uniqueName('echo');
    const original = await issueWith(acme, responder, [name]);
    const certId = ariCertId(original.leafPem);
    const created = await newOrder(acme, dns(name), { replaces: certId });
    assertOk(created, 201, dir);
    assert.equal(created.json.replaces, certId, `RFC 9773 §5: the server MUST reflect "replaces" in the response: ${created.body}`);
    const fetched = await postAsGet(acme, String(created.headers.location));
    assert.equal(fetched.json.replaces, certId, `…and in subsequent requests for the order: ${fetched.body}`);
  });

  test('a second replacement while another order that is not invalid replaces it is alreadyReplaced (409, RFC 9773 §5); after that order is deactivated away, a new one is accepted', async () => {
    const name = uniqueName('twice');
    const original = await issueWith(acme, responder, [name]);
    const certId = ariCertId(original.leafPem);
    const first = await newOrder(acme, dns(name), { replaces: certId });
    assertOk(first, 201, dir);
    const second = await newOrder(acme, dns(name), { replaces: certId });
    const problem = assertProblem(second, 409, 'alreadyReplaced', dir);
    assert.ok(problem.detail.length > 0);

    // The pending replacement becomes invalid once its authorization is deactivated: replacing is open again.
    const authzUrl = first.json.authorizations[0];
    const deactivated = await acme.post(authzUrl, { status: 'deactivated' });
    assertOk(deactivated, 200, dir);
    const third = await readyOrderWith(acme, responder, dns(name), { replaces: certId });
    await finalizeAndDownload(acme, third.url, third.order);
    const fourth = await newOrder(acme, dns(name), { replaces: certId });
    assertProblem(fourth, 409, 'alreadyReplaced', dir);
  });

  test('a certificate of another account: unauthorized', async () => {
    const name = uniqueName('mine');
    const original = await issueWith(acme, responder, [name]);
    const res = await newOrder(other, dns(name), { replaces: ariCertId(original.leafPem) });
    assertProblem(res, 403, 'unauthorized', dir);
  });

  test('a certificate sharing no identifier with the order: malformed', async () => {
    const original = await issueWith(acme, responder, [uniqueName('a')]);
    const res = await newOrder(acme, dns(uniqueName('b')), { replaces: ariCertId(original.leafPem) });
    assertProblem(res, 400, 'malformed', dir);
  });

  test('a malformed certificate identifier: malformed', async () => {
    for (const replaces of ['garbage', 'AAAA', 'AAAA.', '.AAAA', 'AA==.AQ']) {
      assertProblem(await newOrder(acme, dns(uniqueName('mf')), { replaces }), 400, 'malformed', dir);
    }
  });

  test('an unknown certificate: malformed', async () => {
    const original = await issueWith(acme, responder, [uniqueName('uk')]);
    const { keyIdentifier } = certIdBytes(original.leafPem);
    const replaces = `${keyIdentifier.toString('base64url')}.${Buffer.concat([Buffer.from([0x01]), randomBytes(15)]).toString('base64url')}`;
    assertProblem(await newOrder(acme, dns(uniqueName('uk')), { replaces }), 400, 'malformed', dir);
  });

  test('"replaces" that is not a string: malformed', async () => {
    const name = uniqueName('ns');
    const original = await issueWith(acme, responder, [name]);
    const certId = ariCertId(original.leafPem);
    for (const replaces of [42, null, true, [certId], { certId }]) {
      assertProblem(await newOrder(acme, dns(name), { replaces }), 400, 'malformed', dir);
    }
  });
});

describe('anvil renew-fleet (a separate process on the same data directory)', () => {
  test('--profile default: earlier default certificates are due now; other profiles and later certificates keep their windows', async () => {
    const before = await issueWith(acme, responder, [uniqueName('fleet')]);
    const otherProfile = await issueWith(acme, responder, [uniqueName('fleetm')], { profile: 'mtls' });
    assert.ok((await windowOf(before.leafPem)).start.getTime() > Date.now());

    const result = await anvilCli(['renew-fleet', '--data-dir', srv.dataDir, '--profile', 'default']);
    assert.equal(result.code, 0, describeRun(result));

    assertInPast(await windowOf(before.leafPem), 'default certificate issued before renew-fleet');
    assertWindowNear(await windowOf(otherProfile.leafPem), expectedWindow(otherProfile.leafPem, { start: 0.6667, end: 0.75 }), 'mtls certificate (other profile)');

    await new Promise((r) => setTimeout(r, 5));
    const afterwards = await issueWith(acme, responder, [uniqueName('fleet2')]);
    assertWindowNear(await windowOf(afterwards.leafPem), expectedWindow(afterwards.leafPem, { start: 0.6667, end: 0.75 }), 'default certificate issued after renew-fleet');
  });

  test('without exactly one of --profile / --issuer it prints usage and exits 2', async () => {
    const neither = await anvilCli(['renew-fleet', '--data-dir', srv.dataDir]);
    assert.equal(neither.code, 2, describeRun(neither));
    const both = await anvilCli(['renew-fleet', '--data-dir', srv.dataDir, '--profile', 'default', '--issuer', 'x']);
    assert.equal(both.code, 2, describeRun(both));
  });

  // Last: an issuer-wide trigger makes every earlier certificate of this server due.
  test('--issuer <id>: every earlier certificate of that issuer is due, whatever its profile', async () => {
    const manifest = JSON.parse(readFileSync(join(srv.dataDir, 'ca', 'manifest.json'), 'utf8')) as { issuers: { id: string; status: string }[] };
    const issuer = manifest.issuers.find((i) => i.status === 'active')!;
    const m = await issueWith(acme, responder, [uniqueName('iss')], { profile: 'mtls' });
    const result = await anvilCli(['renew-fleet', '--data-dir', srv.dataDir, '--issuer', issuer.id]);
    assert.equal(result.code, 0, describeRun(result));
    assertInPast(await windowOf(m.leafPem), 'mtls certificate after an issuer-wide renew-fleet');
  });
});
