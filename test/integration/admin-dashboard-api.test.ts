/**
 * The admin calls the dashboard reads (overview, inventory pages, certificate details, hierarchy,
 * accounts, audit search) and its session endpoints: each role gets what README's table gives it
 * and 403 otherwise; hostile or malformed input gets 400/401/404 with a message, never a 500; a
 * session cookie stands for the token on reads and needs its CSRF token on writes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { issue, uniqueName } from '../helpers/acme-flow.js';
import { adminCall, createAdminToken, plainRequest } from '../helpers/admin-http.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

type Role = 'auditor' | 'operator' | 'ca-admin';
const CLI_ENV = { ANVIL_KEY_PASSPHRASE: 'test-passphrase' };

let dnsServer: TestDnsServer;
let responder: Http01Responder;
let srv: TestServer;
let adminUrl = '';
let serial = '';
let name = '';
const tokens = {} as Record<Role, string>;

before(async () => {
  dnsServer = await startDnsServer();
  responder = await startHttp01Responder();
  srv = await startTestServer({ '--dns-resolvers': dnsServer.resolver, '--http01-port': String(responder.port) });
  adminUrl = srv.server.adminUrl;
  for (const role of ['auditor', 'operator', 'ca-admin'] as Role[]) tokens[role] = (await createAdminToken(srv.dataDir, role, `dash-${role}`, CLI_ENV)).token;
  const acme = await new RawAcme(srv.directoryUrl, srv.rootPem).init();
  await acme.register();
  name = uniqueName('dash');
  await issue(acme, responder, [name]);
  const found = await adminCall(adminUrl, tokens.auditor, 'GET', `/admin/inventory?name=${name}`);
  serial = found.json.certificates[0].serial;
});

after(async () => {
  await srv?.close();
  await responder?.close();
  await dnsServer?.close();
});

describe('dashboard reads by role', () => {
  const table: [string, Role[]][] = [
    ['/admin/overview', ['auditor', 'operator', 'ca-admin']],
    ['/admin/inventory', ['auditor', 'operator', 'ca-admin']],
    ['/admin/hierarchy', ['auditor', 'operator', 'ca-admin']],
    ['/admin/accounts', ['auditor', 'operator', 'ca-admin']],
    ['/admin/audit/search', ['auditor']],
  ];
  for (const [path, allowed] of table) {
    test(`GET ${path} is allowed to ${allowed.join(', ')} only`, async () => {
      for (const role of ['auditor', 'operator', 'ca-admin'] as Role[]) {
        const res = await adminCall(adminUrl, tokens[role], 'GET', path);
        assert.equal(res.status, allowed.includes(role) ? 200 : 403, `${role}: ${res.body}`);
      }
    });
  }

  test('the certificate page data: details, OCSP good, ARI window, and its audit trail for the auditor only', async () => {
    const c = await adminCall(adminUrl, tokens.operator, 'GET', `/admin/certificates/${serial}`);
    assert.equal(c.status, 200, c.body);
    assert.deepEqual(c.json.names, [name]);
    assert.equal(c.json.ocsp.status, 'good');
    assert.equal(c.json.ocsp.presigned.signedAs, 'good');
    assert.ok(Date.parse(c.json.ari.start) < Date.parse(c.json.ari.end));
    assert.equal(c.json.successor, null);
    const pem = await adminCall(adminUrl, tokens.auditor, 'GET', `/admin/certificates/${serial}/chain.pem`);
    assert.equal(pem.status, 200);
    assert.match(String(pem.headers['content-type']), /^application\/pem-certificate-chain/);
    assert.match(String(pem.headers['content-disposition']), /^attachment; filename="?[0-9a-f]+-chain\.pem"?$/);
    assert.equal(pem.body.match(/BEGIN CERTIFICATE/g)?.length, 2);
    assert.equal((await adminCall(adminUrl, tokens.operator, 'GET', `/admin/certificates/${serial}/audit`)).status, 403);
    const trail = await adminCall(adminUrl, tokens.auditor, 'GET', `/admin/certificates/${serial}/audit`);
    assert.deepEqual(trail.json.map((r: { action: string }) => r.action).filter((a: string) => a.startsWith('certificate.') || a.startsWith('order.')), ['order.created', 'order.finalizing', 'certificate.issued']);
  });

  test('the overview counts the issued certificate under its profile and issuer, and lists this instance and the leases it holds', async () => {
    const o = await adminCall(adminUrl, tokens['ca-admin'], 'GET', '/admin/overview');
    assert.equal(o.json.byProfile.find((p: { profile: string }) => p.profile === 'default')?.live, 1);
    assert.equal(o.json.expiring24h.total, 1);
    assert.equal(o.json.expiring24h.withoutSuccessor, 1);
    assert.equal(o.json.activity.length, 24);
    const self = o.json.instances.find((i: { self: boolean }) => i.self);
    assert.ok(self, `this instance is listed by its heartbeat: ${JSON.stringify(o.json.instances)}`);
    assert.equal(self.pid, process.pid, 'the test server runs in this process');
    const crl = o.json.leases.find((l: { task: string }) => l.task === 'crl');
    assert.equal(crl?.holder, self.id, 'the sole instance holds the CRL lease');
    assert.equal(crl?.live, true);
  });
});

describe('malformed input is a 4xx with a message, never a 500', () => {
  const cases: [string, number, RegExp][] = [
    ['/admin/inventory?limit=0', 400, /limit/],
    ['/admin/inventory?limit=abc', 400, /limit/],
    ['/admin/inventory?expiresAfter=yesterday', 400, /expiresAfter/],
    ['/admin/inventory?revoked=maybe', 400, /revoked/],
    ['/admin/inventory?serial=xyz', 400, /serial/],
    ['/admin/inventory?cursor=%22%3Cscript%3E', 400, /cursor/],
    [`/admin/inventory?cursor=${Buffer.from('{"a":1}').toString('base64url')}`, 400, /cursor/],
    ['/admin/certificates/not-hex', 400, /serial/],
    ['/admin/certificates/abcdef0123', 404, /no certificate/],
    ['/admin/accounts/nobody', 404, /no such account/],
    ['/admin/accounts?cursor=AAAA', 400, /cursor/],
    ['/admin/audit/search?before=1e400', 400, /before/],
  ];
  for (const [path, status, message] of cases) {
    test(`GET ${path} → ${status}`, async () => {
      const res = await adminCall(adminUrl, tokens.auditor, 'GET', path);
      assert.equal(res.status, status, res.body);
      assert.match(res.json.error, message);
    });
  }

  test('sign-in refuses a non-JSON body, broken JSON, a foreign Origin and an unknown token', async () => {
    const post = (headers: Record<string, string>, body: string) => plainRequest(`${adminUrl}/ui/api/session`, { method: 'POST', headers, body });
    assert.equal((await post({ 'Content-Type': 'text/plain' }, `{"token":"${tokens.operator}"}`)).status, 400);
    assert.equal((await post({ 'Content-Type': 'application/json' }, '{"token":')).status, 400);
    assert.equal((await post({ 'Content-Type': 'application/json', Origin: 'http://evil.test' }, JSON.stringify({ token: tokens.operator }))).status, 400);
    const unknown = await post({ 'Content-Type': 'application/json' }, JSON.stringify({ token: 'anvil_00.nope' }));
    assert.equal(unknown.status, 401);
    assert.equal(unknown.headers['set-cookie'], undefined);
  });
});

describe('a dashboard session', () => {
  test('reads with the cookie alone; writes need the CSRF token and a same-origin Origin; a forged cookie is 401', async () => {
    const signIn = await plainRequest(`${adminUrl}/ui/api/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: tokens.operator }) });
    assert.equal(signIn.status, 200, signIn.body);
    const setCookie = String(signIn.headers['set-cookie']);
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.match(setCookie, /Max-Age=28800/);
    const cookie = setCookie.split(';')[0]!;
    const csrf = signIn.json.csrf as string;
    assert.deepEqual(signIn.json.permissions.includes('certificates:revoke'), true);
    const read = await plainRequest(`${adminUrl}/admin/overview`, { headers: { Cookie: cookie } });
    assert.equal(read.status, 200);
    const eab = (headers: Record<string, string>) => plainRequest(`${adminUrl}/admin/eab`, { method: 'POST', headers: { Cookie: cookie, 'Content-Type': 'application/json', ...headers }, body: '{"note":"from the dashboard"}' });
    assert.equal((await eab({})).status, 403);
    assert.equal((await eab({ 'X-CSRF-Token': csrf.slice(0, -2) + 'xx' })).status, 403);
    assert.equal((await eab({ 'X-CSRF-Token': csrf, Origin: 'http://evil.test' })).status, 403);
    const created = await eab({ 'X-CSRF-Token': csrf });
    assert.equal(created.status, 200, created.body);
    assert.ok(created.json.hmacKey);
    const forged = await plainRequest(`${adminUrl}/admin/overview`, { headers: { Cookie: `anvil_session=${'A'.repeat(80)}` } });
    assert.equal(forged.status, 401);
    assert.match(forged.json.error, /session/);
    const out = await plainRequest(`${adminUrl}/ui/api/session`, { method: 'DELETE', headers: { Cookie: cookie, 'X-CSRF-Token': csrf } });
    assert.equal(out.status, 204);
    assert.match(String(out.headers['set-cookie']), /anvil_session=;/);
  });
});
