/**
 * Interop: the operator dashboard (/ui/ on the admin listener) in a real browser — Debian's
 * Chromium driven by playwright-core — against a real Anvil process that acme-client just got
 * certificates from. Signing in, finding a certificate, revoking it as operator (openssl ocsp then
 * says revoked), an auditor who is not offered the action and whose session is refused it anyway,
 * a wrong token, CSRF, the CSP header, the ca-admin's rotation behind a confirmation, screenshots.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import acme from 'acme-client';
import type { Locator } from 'playwright-core';
import { canonicalSerial } from '../../src/ca/certificate-builder.js';
import { acmeClientKit, type AcmeClientKit, type ClientIssued } from '../helpers/acme-client-kit.js';
import { adminCall, createAdminToken, plainRequest } from '../helpers/admin-http.js';
import { launchBrowser, requireChromium, type TestBrowser } from '../helpers/browser.js';
import { anvilCli } from '../helpers/eab.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { opensslOcsp } from '../helpers/openssl-revocation.js';
import { revocationUrlsOf } from '../helpers/revocation-http.js';
import { uniqueName } from '../helpers/acme-flow.js';
import { freePort, requireTool, splitPemChain } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const skip = requireChromium() || requireTool('openssl');
const SESSION_LIFETIME_S = 2 * 3600;

/**
 * Polls until the locator matches `n` elements (bounded). Playwright's waitForFunction would
 * evaluate a string in the page, which the dashboard's CSP (no 'unsafe-eval') rightly refuses.
 */
async function waitForCount(locator: Locator, n: number, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while ((await locator.count()) !== n) {
    if (Date.now() > until) assert.fail(`expected ${n} elements, found ${await locator.count()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Cert {
  name: string;
  issued: ClientIssued;
  serial: string;
  leafPath: string;
  issuerPath: string;
}

describe('operator dashboard in Chromium', { skip, timeout: 420_000 }, () => {
  let stack: InteropStack;
  let responder: Http01Responder;
  let kit: AcmeClientKit;
  let adminUrl = '';
  let dataDir = '';
  let rootPath = '';
  let shots = '';
  const tokens: Record<'operator' | 'auditor' | 'ca-admin', string> = { operator: '', auditor: '', 'ca-admin': '' };
  const certs: Cert[] = [];
  let browser: TestBrowser;
  const requested: string[] = [];

  async function obtain(name: string): Promise<Cert> {
    const issued = await kit.issue({ names: [name], keyType: 'ecdsa-p256' });
    const [leaf, intermediate] = splitPemChain(issued.chain) as [string, string];
    const i = certs.length;
    const leafPath = path.join(stack.work, `leaf-${i}.pem`);
    const issuerPath = path.join(stack.work, `issuer-${i}.pem`);
    await writeFile(leafPath, leaf);
    await writeFile(issuerPath, intermediate);
    const cert = { name, issued, serial: canonicalSerial(new X509Certificate(leaf).serialNumber), leafPath, issuerPath };
    certs.push(cert);
    return cert;
  }

  async function signIn(token: string): Promise<void> {
    const { page } = browser;
    await page.goto(`${adminUrl}/ui/`);
    await page.fill('#token', token);
    await page.click('#sign-in');
  }

  async function signOut(): Promise<void> {
    await browser.page.click('#sign-out');
    await browser.page.waitForSelector('#token');
  }

  async function screenshot(name: string): Promise<void> {
    const file = path.join(shots, `${name}.png`);
    await browser.page.screenshot({ path: file, fullPage: true });
    const png = await readFile(file);
    assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), `${file} is a PNG`);
    assert.ok(png.length > 20_000, `${file} shows a rendered page (${png.length} bytes)`);
  }

  before(async () => {
    stack = await openStack('anvil-interop-dashboard-');
    responder = await startHttp01Responder(stack.http01Port);
    stack.onClose(() => responder.close());
    const adminPort = await freePort();
    const revocationPort = await freePort();
    const { server, rootPem } = await stack.start({
      env: { ANVIL_ADMIN_LISTEN: `127.0.0.1:${adminPort}` },
      extraArgs: ['--revocation-listen', `127.0.0.1:${revocationPort}`, '--ui-session-lifetime', `${SESSION_LIFETIME_S}s`, '--anomaly-interval', '0'],
    });
    adminUrl = `http://127.0.0.1:${adminPort}`;
    dataDir = server.dataDir;
    rootPath = server.rootPemPath;
    // ANVIL_SCREENSHOT_DIR=docs/screenshots refreshes the README's pictures; otherwise they stay in the temp dir.
    shots = process.env.ANVIL_SCREENSHOT_DIR ?? path.join(stack.work, 'screenshots');
    await mkdir(shots, { recursive: true });
    for (const role of ['operator', 'auditor', 'ca-admin'] as const) tokens[role] = (await createAdminToken(dataDir, role, `${role}-in-browser`)).token;
    kit = await acmeClientKit(server.directoryUrl, rootPem, responder);
    const renewed = uniqueName('web');
    await obtain(renewed);
    await obtain(uniqueName('api'));
    await obtain(renewed); // a successor of the first
    // One validation that fails (nobody answers the challenge), for the failed-validations series.
    const [, csr] = await acme.crypto.createCsr({ altNames: [uniqueName('broken')] });
    await assert.rejects(
      kit.client.auto({ csr, challengePriority: ['http-01'], termsOfServiceAgreed: true, skipChallengeVerification: true, challengeCreateFn: async () => undefined, challengeRemoveFn: async () => undefined }),
    );
    browser = await launchBrowser();
    browser.page.on('request', (r) => requested.push(r.url()));
    stack.onClose(() => browser.close());
  });

  after(() => stack?.close());

  it('serves /ui/ with a strict Content-Security-Policy and a page without inline script or style', async () => {
    for (const p of ['/ui/', '/ui/assets/app.js', '/ui/assets/app.css']) {
      const res = await plainRequest(`${adminUrl}${p}`);
      assert.equal(res.status, 200, p);
      const csp = String(res.headers['content-security-policy']);
      for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) {
        assert.ok(csp.includes(directive), `${p}: CSP ${csp} has ${directive}`);
      }
      assert.ok(!/unsafe-inline|unsafe-eval|https?:|\*/.test(csp), `${p}: CSP allows nothing inline or foreign: ${csp}`);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    }
    const html = (await plainRequest(`${adminUrl}/ui/`)).body;
    assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), 'every <script> has a src');
    assert.ok(!/\sstyle=|\son[a-z]+=|<style/i.test(html), 'no inline style or event handler');
    assert.ok(!/https?:\/\//.test(html), 'nothing from another origin');
  });

  it('a wrong token cannot sign in: the page says so, no cookie is set, and the admin API stays closed', async () => {
    await signIn('anvil_000000000000.not-a-real-token');
    await browser.page.waitForSelector('[role=alert]');
    assert.match(await browser.page.textContent('[role=alert]') ?? '', /not a valid admin token/);
    assert.deepEqual((await browser.context.cookies()).filter((c) => c.name === 'anvil_session'), []);
    assert.equal((await browser.context.request.get(`${adminUrl}/admin/overview`)).status(), 401);
  });

  it('an operator signs in to an HttpOnly, SameSite=Strict session that expires, and the overview counts what acme-client obtained', async () => {
    await signIn(tokens.operator);
    await browser.page.waitForSelector('#who');
    assert.equal(await browser.page.textContent('#who'), 'operator-in-browser');
    const [cookie] = (await browser.context.cookies()).filter((c) => c.name === 'anvil_session');
    assert.ok(cookie, 'a session cookie is set');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    const left = cookie.expires - Date.now() / 1000;
    assert.ok(left > SESSION_LIFETIME_S - 120 && left <= SESSION_LIFETIME_S + 5, `the cookie expires with the session (${left} s left)`);
    assert.ok(!(await browser.page.evaluate<string>('document.cookie')).includes('anvil_session'), 'scripts cannot read the session');
    // Operator navigation: no audit log (auditor's), EAB yes.
    const nav = await browser.page.$$eval('header nav a', (as) => as.map((a) => a.textContent));
    assert.deepEqual(nav, ['Overview', 'Inventory', 'Issuers', 'Accounts', 'EAB']);
    await browser.page.waitForSelector('#expiring .big');
    // Three certificates, 24 h profile: all expire within 24 h; the renewed one has a successor.
    assert.equal(await browser.page.textContent('#expiring .big'), '3');
    assert.match((await browser.page.textContent('#expiring')) ?? '', /1 renewed · 2 without a successor/);
    assert.match((await browser.page.textContent('#by-profile')) ?? '', /default\s*3/);
    await browser.page.waitForSelector('.chart canvas');
    // The chart's series, as the page received them (the session cookie authenticates this read).
    const overview = await (await browser.context.request.get(`${adminUrl}/admin/overview`)).json();
    const total = (k: string) => overview.activity.reduce((n: number, h: Record<string, number>) => n + h[k]!, 0);
    assert.equal(overview.activity.length, 24);
    assert.equal(total('issued'), 3);
    assert.equal(total('failedValidations'), 1);
    await browser.page.waitForSelector('#health .checks li');
    // The store's heartbeats and leases: this (sole) server instance, holding the periodic tasks.
    await browser.page.waitForSelector('#instances tbody tr');
    assert.match((await browser.page.textContent('#instances')) ?? '', /this one/);
    assert.match((await browser.page.textContent('#lease-list')) ?? '', /crl/);
    await screenshot('overview');
  });

  it('the operator finds the certificate by name, revokes it with keyCompromise after confirming, and openssl ocsp says revoked', async () => {
    const target = certs[1]!;
    const { page } = browser;
    await page.goto(`${adminUrl}/ui/#/inventory`);
    await page.fill('#q-name', target.name);
    await page.click('#search');
    await page.waitForSelector(`tr[data-serial="${target.serial}"]`);
    assert.equal(await page.locator('#results tbody tr').count(), 1, 'exactly the one certificate for that name');
    await page.click(`tr[data-serial="${target.serial}"] a`);
    await page.waitForSelector('#ocsp-status');
    assert.equal(await page.textContent('#ocsp-status'), 'good');
    const before = await opensslOcsp({ issuerPath: target.issuerPath, certPath: target.leafPath, url: revocationUrlsOf(target.issued.chain).ocsp!, rootPath });
    assert.equal(before.status, 'good', before.output);
    await page.click('#revoke');
    await page.selectOption('#revoke-reason', '1');
    await page.click('#revoke-confirm');
    await page.waitForSelector('#ocsp-status.bad');
    assert.equal(await page.textContent('#ocsp-status'), 'revoked');
    assert.match((await page.textContent('#revoked-at')) ?? '', /keyCompromise/);
    const after = await opensslOcsp({ issuerPath: target.issuerPath, certPath: target.leafPath, url: revocationUrlsOf(target.issued.chain).ocsp!, rootPath });
    assert.ok(after.verified, after.output);
    assert.equal(after.status, 'revoked', after.output);
    assert.equal(after.reason, 'keyCompromise', after.output);
    await screenshot('certificate-revoked');
  });

  it('the certificate page links predecessor and successor, and offers the PEM chain for download', async () => {
    const [first, , successor] = certs as [Cert, Cert, Cert];
    const { page } = browser;
    await page.goto(`${adminUrl}/ui/#/cert/${first.serial}`);
    await page.waitForSelector('#successor a');
    assert.match((await page.textContent('#successor')) ?? '', new RegExp(successor.serial.slice(0, 16)));
    const download = await Promise.all([page.waitForEvent('download'), page.click('#download-chain')]).then(([d]) => d);
    const pem = await readFile((await download.path())!, 'utf8');
    const blocks = splitPemChain(pem);
    assert.equal(blocks.length, 2, 'leaf and intermediate');
    assert.equal(canonicalSerial(new X509Certificate(blocks[0]!).serialNumber), first.serial);
  });

  it('a state-changing call with the session cookie but without the CSRF token is refused, and nothing changes', async () => {
    const target = certs[0]!;
    const res = await browser.context.request.post(`${adminUrl}/admin/certificates/${target.serial}/revoke`, { data: { reason: 4 } });
    assert.equal(res.status(), 403);
    assert.match((await res.json()).error, /CSRF/);
    const page = await adminCall(adminUrl, tokens.operator, 'GET', `/admin/inventory?serial=${target.serial}`);
    assert.equal(page.json.certificates[0].revokedAt, null);
  });

  it('an auditor is not offered revoke, and the server refuses it from the auditor\'s session even with its CSRF token', async () => {
    await signOut();
    await signIn(tokens.auditor);
    await browser.page.waitForSelector('#who');
    const nav = await browser.page.$$eval('header nav a', (as) => as.map((a) => a.textContent));
    assert.deepEqual(nav, ['Overview', 'Inventory', 'Issuers', 'Accounts', 'Audit']);
    const target = certs[0]!;
    await browser.page.goto(`${adminUrl}/ui/#/cert/${target.serial}`);
    await browser.page.waitForSelector('#ocsp-status');
    await browser.page.waitForSelector('#cert-audit tr');
    assert.equal(await browser.page.locator('#revoke').count(), 0, 'no revoke action for an auditor');
    assert.match((await browser.page.textContent('#cert-audit')) ?? '', /certificate\.issued/);
    const refused = await browser.page.evaluate(async (serial) => {
      const me = (await (await fetch('/ui/api/session')).json()) as { csrf: string };
      const r = await fetch(`/admin/certificates/${serial}/revoke`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf }, body: '{"reason":4}' });
      return { status: r.status, body: (await r.json()) as { error: string } };
    }, target.serial);
    assert.equal(refused.status, 403);
    assert.match(refused.body.error, /role auditor may not certificates:revoke/);
    assert.equal(await browser.page.textContent('#ocsp-status'), 'good');
  });

  it('the auditor\'s "verify chain" shows what `anvil audit verify` prints', async () => {
    const { page } = browser;
    await page.goto(`${adminUrl}/ui/#/audit`);
    await page.waitForSelector('#audit-list tbody tr');
    await page.click('#verify-chain');
    await page.waitForSelector('#verify-result');
    const shown = ((await page.textContent('#verify-result')) ?? '').trim().split('\n');
    const cli = await anvilCli(['audit', 'verify', '--data-dir', dataDir]);
    assert.equal(cli.code, 0, cli.stderr);
    const printed = cli.stdout.trim().split('\n');
    // The same sentences; only the record count may have grown (the page's own call is audited).
    const counted = /^audit log intact: (\d+) records, hash chain verified$/;
    const [, uiCount] = counted.exec(shown[0]!) ?? assert.fail(`page shows ${shown.join(' / ')}`);
    const [, cliCount] = counted.exec(printed[0]!) ?? assert.fail(`CLI printed ${cli.stdout}`);
    assert.ok(Number(cliCount) >= Number(uiCount), 'the CLI, run later, sees at least as many records');
    assert.equal(shown.length, printed.length, `page: ${shown.join(' / ')}; CLI: ${printed.join(' / ')}`);
    assert.match(shown[1]!, /^complete up to the checkpoint of .+ \(record \d+, from .+audit-checkpoint\.json\)$/);
    assert.match(printed[1]!, /^complete up to the checkpoint of .+ \(record \d+, from .+audit-checkpoint\.json\)$/);
    await page.fill('#a-action', 'certificate.revoked');
    await page.click('#audit-search');
    await waitForCount(page.locator('#audit-list tbody tr'), 1);
    assert.match((await page.textContent('#audit-list tbody')) ?? '', /admin:operator-in-browser/);
  });

  it('a ca-admin rotates the issuer behind a confirmation; the operator is not offered rotation but triggers renewal by profile after confirming', async () => {
    await signOut();
    await signIn(tokens['ca-admin']);
    const { page } = browser;
    await page.waitForSelector('#who');
    await page.goto(`${adminUrl}/ui/#/issuers`);
    await page.waitForSelector('#bundle-version');
    const versionBefore = Number(await page.textContent('#bundle-version'));
    assert.equal(await page.locator('#hierarchy li[data-issuer]').count(), 1);
    await page.click('#rotate');
    await page.waitForSelector('#rotate-confirm');
    assert.equal(await page.locator('#hierarchy .status-retiring').count(), 0, 'nothing happens before the confirmation');
    await page.click('#rotate-confirm');
    await page.waitForSelector('text=Rotated: a new issuer is active.');
    await waitForCount(page.locator('#hierarchy li[data-issuer]'), 2);
    assert.equal(await page.locator('#hierarchy .status-retiring').count(), 1);
    assert.ok(Number(await page.textContent('#bundle-version')) > versionBefore, 'the trust bundle version grows');
    await screenshot('issuers');
    await signOut();
    await signIn(tokens.operator);
    await page.waitForSelector('#who');
    await page.goto(`${adminUrl}/ui/#/issuers`);
    await page.waitForSelector('#bundle-version');
    assert.equal(await page.locator('#rotate').count(), 0, 'no rotation for an operator');
    assert.equal(await page.locator('[id^=renew-issuer-]').count(), 0, 'renewal by issuer is the ca-admin\'s');
    await page.selectOption('#renew-profile', 'default');
    await page.click('#renew-profile-go');
    await page.click('#renew-profile-go-confirm');
    await page.waitForSelector('text=Renewal triggered for profile default.');
    const audit = await adminCall(adminUrl, tokens.auditor, 'GET', '/admin/audit/search?action=renewal.triggered');
    assert.deepEqual(audit.json.records.map((r: { actor: string; subject: string }) => [r.actor, r.subject]), [['admin:operator-in-browser', 'profile:default']]);
  });

  it('loaded nothing from another origin and hit no CSP violation or script error', () => {
    assert.ok(requested.length > 10, `the browser made requests (${requested.length})`);
    const foreign = requested.filter((u) => !u.startsWith(`${adminUrl}/`));
    assert.deepEqual(foreign, []);
    const bad = browser.console.filter((m) => /Content Security Policy|pageerror|Refused to/i.test(m));
    assert.deepEqual(bad, []);
  });
});
