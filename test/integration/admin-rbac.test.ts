/**
 * The admin API's roles (README "Operations", the call × role table): each of auditor, operator
 * and ca-admin gets 2xx for every call its column ticks and 403 for every other, with real targets
 * (a real certificate to revoke, a real EAB kid, real issuers to rotate, archive and retire);
 * requests without a token, with a malformed header, an unknown token or a revoked token get 401
 * with `WWW-Authenticate: Bearer`. Every call — allowed or refused — must be in the audit log with
 * its actor. /metrics, /healthz and /readyz need no token.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { issue, uniqueName } from '../helpers/acme-flow.js';
import { adminCall, createAdminToken, plainRequest, revokeAdminToken, type PlainResponse } from '../helpers/admin-http.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

type Role = 'auditor' | 'operator' | 'ca-admin';
const ROLES: Role[] = ['auditor', 'operator', 'ca-admin'];
const CLI_ENV = { ANVIL_KEY_PASSPHRASE: 'test-passphrase' };
const NAME: Record<Role, string> = { auditor: 'rbac-auditor', operator: 'rbac-operator', 'ca-admin': 'rbac-ca-admin' };

let dnsServer: TestDnsServer;
let responder: Http01Responder;
let srv: TestServer;
let adminUrl = '';
const tokens = {} as Record<Role, string>;
/** Every authenticated call made, to find in the audit log afterwards. */
const calls: { role: Role; method: string; path: string; status: number }[] = [];

before(async () => {
  dnsServer = await startDnsServer();
  responder = await startHttp01Responder();
  srv = await startTestServer({ '--dns-resolvers': dnsServer.resolver, '--http01-port': String(responder.port), '--validation-timeout': '5s' });
  adminUrl = srv.server.adminUrl;
  for (const role of ROLES) tokens[role] = (await createAdminToken(srv.dataDir, role, NAME[role], CLI_ENV)).token;
});

after(async () => {
  await srv.close();
  await responder.close();
  await dnsServer.close();
});

async function call(role: Role, method: string, path: string, body?: unknown): Promise<PlainResponse> {
  const res = await adminCall(adminUrl, tokens[role], method, path, body);
  calls.push({ role, method, path: path.split('?')[0]!, status: res.status });
  return res;
}

/**
 * Runs one call for every role, the refused roles first (their calls must change nothing) and the
 * allowed ones last; asserts 403 / 2xx. Returns the allowed roles' responses.
 */
async function matrix(method: string, path: string, allowed: Role[], body?: unknown): Promise<PlainResponse[]> {
  const out: PlainResponse[] = [];
  for (const role of [...ROLES.filter((r) => !allowed.includes(r)), ...allowed]) {
    const res = await call(role, method, path, body);
    if (allowed.includes(role)) {
      assert.ok(res.status >= 200 && res.status < 300, `${role} may ${method} ${path}: got ${res.status} ${res.body}`);
      out.push(res);
    } else {
      assert.equal(res.status, 403, `${role} may not ${method} ${path}: got ${res.status} ${res.body}`);
      assert.match(String(res.json?.error ?? ''), new RegExp(role), `the refusal names the role: ${res.body}`);
    }
  }
  return out;
}

async function issuers(): Promise<{ id: string; status: string }[]> {
  const res = await adminCall(adminUrl, tokens.auditor, 'GET', '/admin/issuers');
  assert.equal(res.status, 200, res.body);
  return res.json;
}

describe('authentication', () => {
  test('no token, a malformed header, an unknown token and a revoked token get 401 with WWW-Authenticate: Bearer', async () => {
    const revoked = await createAdminToken(srv.dataDir, 'ca-admin', 'rbac-revoked', CLI_ENV);
    const before = await adminCall(adminUrl, revoked.token, 'GET', '/admin/issuers');
    assert.equal(before.status, 200, `the token works before it is revoked: ${before.body}`);
    await revokeAdminToken(srv.dataDir, revoked.id, CLI_ENV);
    const attempts: [string, Record<string, string>][] = [
      ['no Authorization header', {}],
      ['Basic credentials', { Authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` }],
      ['Bearer without a token', { Authorization: 'Bearer' }],
      ['an unknown token', { Authorization: `Bearer anvil_000000000000.${'A'.repeat(43)}` }],
      ['a revoked token', { Authorization: `Bearer ${revoked.token}` }],
      ['a valid token with a suffix', { Authorization: `Bearer ${tokens['ca-admin']}x` }],
    ];
    for (const [what, headers] of attempts) {
      for (const [method, path] of [
        ['GET', '/admin/certificates'],
        ['GET', '/admin/audit'],
        ['POST', '/admin/issuers/rotate'],
        ['DELETE', '/admin/eab/some-kid'],
      ] as const) {
        const res = await plainRequest(`${adminUrl}${path}`, { method, headers });
        assert.equal(res.status, 401, `${what}: ${method} ${path} → ${res.status} ${res.body}`);
        assert.match(String(res.headers['www-authenticate'] ?? ''), /^Bearer\b/, `${what}: WWW-Authenticate: ${JSON.stringify(res.headers)}`);
      }
    }
    assert.equal((await issuers()).length >= 1, true, 'nothing was rotated by the refused calls');
  });

  test('/metrics, /healthz and /readyz answer without a token', async () => {
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      const res = await plainRequest(`${adminUrl}${path}`);
      assert.equal(res.status, 200, `${path}: ${res.status} ${res.body.slice(0, 300)}`);
    }
  });
});

describe('the call × role table', () => {
  test('reads: certificates and issuers for everyone, the audit log for the auditor, anomalies for auditor and operator', async () => {
    await matrix('GET', '/admin/certificates?limit=10', ['auditor', 'operator', 'ca-admin']);
    await matrix('GET', '/admin/certificates/expiring?within=24h', ['auditor', 'operator', 'ca-admin']);
    await matrix('GET', '/admin/issuers', ['auditor', 'operator', 'ca-admin']);
    await matrix('GET', '/admin/audit?after=0&limit=5', ['auditor']);
    const [verdict] = await matrix('GET', '/admin/audit/verify', ['auditor']);
    assert.equal(verdict!.json.ok, true, verdict!.body);
    await matrix('GET', '/admin/anomalies', ['auditor', 'operator']);
  });

  test('issuer lifecycle (rotate, archive, retire-key, renew) is the ca-admin\'s alone', async () => {
    const old = (await issuers()).find((i) => i.status === 'active')!;
    const [rotated] = await matrix('POST', '/admin/issuers/rotate', ['ca-admin']);
    assert.ok(rotated!.json.created && rotated!.json.created !== old.id, rotated!.body);
    const after = await issuers();
    assert.equal(after.find((i) => i.id === old.id)?.status, 'retiring', JSON.stringify(after));
    assert.equal(after.find((i) => i.id === rotated!.json.created)?.status, 'active', JSON.stringify(after));
    // The old issuer never issued a certificate, so it may be archived and its key destroyed at once.
    await matrix('POST', `/admin/issuers/${old.id}/archive`, ['ca-admin']);
    await matrix('POST', `/admin/issuers/${old.id}/retire-key`, ['ca-admin']);
    await matrix('POST', `/admin/issuers/${rotated!.json.created}/renew`, ['ca-admin']);
  });

  test('EAB, profile reload, renewals by profile and revocation are the operator\'s alone', async () => {
    const listed = await matrix('GET', '/admin/eab', ['operator']);
    assert.ok(Array.isArray(listed[0]!.json), listed[0]!.body);
    const [created] = await matrix('POST', '/admin/eab', ['operator'], { dnsSuffixes: ['.test'], note: 'rbac' });
    const kid = String(created!.json.kid);
    assert.ok(kid && created!.json.hmacKey, created!.body);
    await matrix('DELETE', `/admin/eab/${encodeURIComponent(kid)}`, ['operator']);
    await matrix('POST', '/admin/profiles/reload', ['operator']);
    await matrix('POST', '/admin/renewals', ['operator'], { profile: 'default' });

    const acme = await new RawAcme(srv.directoryUrl, srv.rootPem).init();
    assert.equal((await acme.register()).status, 201);
    const issued = await issue(acme, responder, [uniqueName('rbac')]);
    const serial = new X509Certificate(issued.chainPem).serialNumber.toLowerCase();
    const [revoked] = await matrix('POST', `/admin/certificates/${serial}/revoke`, ['operator'], { reason: 4 });
    assert.ok(revoked!.json.revokedAt, `the certificate is revoked: ${revoked!.body}`);
    assert.equal(revoked!.json.revocationReason, 4, revoked!.body);
  });

  test('revoke takes the reason by name as well as by code; a refused reason is a 400 naming the valid ones', async () => {
    const acme = await new RawAcme(srv.directoryUrl, srv.rootPem).init();
    assert.equal((await acme.register()).status, 201);
    const issued = await issue(acme, responder, [uniqueName('rbac-reason')]);
    const serial = new X509Certificate(issued.chainPem).serialNumber.toLowerCase();
    const refused = await adminCall(adminUrl, tokens.operator, 'POST', `/admin/certificates/${serial}/revoke`, { reason: 'cACompromise' });
    assert.equal(refused.status, 400, refused.body);
    assert.match(String(refused.json?.error), /keyCompromise \(1\).*cessationOfOperation \(5\)/, refused.body);
    const byName = await adminCall(adminUrl, tokens.operator, 'POST', `/admin/certificates/${serial}/revoke`, { reason: 'cessationOfOperation' });
    assert.equal(byName.status, 200, byName.body);
    assert.equal(byName.json.revocationReason, 5, byName.body);
  });

  test('every call, allowed or refused, is in the audit log with its actor', async () => {
    assert.ok(calls.some((c) => c.status === 403) && calls.some((c) => c.status < 300), 'the table tests ran first');
    const res = await adminCall(adminUrl, tokens.auditor, 'GET', '/admin/audit?after=0&limit=10000');
    assert.equal(res.status, 200, res.body);
    const log = res.json as { seq: number; actor: string; action: string; subject: string; data: Record<string, unknown> }[];
    const admin = log.filter((r) => r.action.startsWith('admin.'));
    const missing = calls.filter((c) => {
      const allowed = c.status !== 403;
      return !admin.some(
        (r) => r.actor === `admin:${NAME[c.role]}` && r.action.startsWith(`admin.${c.method.toLowerCase()} `) && r.subject === c.path && r.data.allowed === allowed && r.data.role === c.role,
      );
    });
    assert.deepEqual(
      missing,
      [],
      `calls without an audit record:\n${missing.map((c) => `${c.role} ${c.method} ${c.path} → ${c.status}`).join('\n')}\n--- admin records ---\n${admin.map((r) => `${r.seq} ${r.actor} ${r.action} ${r.subject} ${JSON.stringify(r.data)}`).join('\n')}`,
    );
    const refused = admin.filter((r) => r.data.allowed === false);
    assert.equal(refused.length, calls.filter((c) => c.status === 403).length, 'one audit record per refused call');
    const revokedUses = admin.filter((r) => r.actor === 'admin:rbac-revoked' && r.action === 'admin.refused');
    assert.deepEqual(
      revokedUses.map((r) => r.subject).sort(),
      ['DELETE /admin/eab/some-kid', 'GET /admin/audit', 'GET /admin/certificates', 'POST /admin/issuers/rotate'],
      'each use of the revoked token is audited under its owner',
    );
    assert.ok(!log.some((r) => r.subject.includes('anvil_000000000000')), 'an unknown token leaves no audit record');
  });
});
