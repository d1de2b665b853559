/**
 * dns-persist-01 against the draft README "Challenges" cites: draft-ietf-acme-dns-persist-02
 * (20 September 2026). Its change log lists what changed since -01:
 *   - the challenge object's list is `issuerDomainNames` (renamed from `issuer-domain-names`, §3.1);
 *   - the directory's meta advertises `issuerDomainNames` (§3.2) and `accountHashPrefix` (§4.1);
 *   - `accounturi` is a hashed URI, <accountHashPrefix>sha-256/<base64url SHA-256(len ‖ domain ‖
 *     thumbprint ‖ account URL)> (§4.1 item 3), with a `*` domain opt-out; the -01 form (the plain
 *     account URL) "is no longer accepted";
 *   - a validated authorization's `expires` is clamped to persistUntil (§4.1 item 5).
 * What -01 and -02 share (record syntax, issuer names, policy=wildcard scope, persistUntil in the
 * past, unknown tags, case-insensitive policy) is in dns-persist.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { assertOk } from '../helpers/acme-assert.js';
import { uniqueName } from '../helpers/acme-flow.js';
import { assertChallengeValid, orderChallenge, validateOnce } from '../helpers/challenge-flow.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { httpsRequest, RawAcme } from '../helpers/raw-acme.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const TYPE = 'dns-persist-01';
const dnsIdent = (value: string) => ({ type: 'dns', value });

/**
 * §4.1 item 3: <prefix>sha-256/<base64url(SHA-256(length_of_domain ‖ domain_name ‖ key ‖ account_URL))>,
 * key = the 43 ASCII octets of the base64url RFC 7638 thumbprint; domain_name may be `*` (opt-out).
 */
export function hashedAccountUri(prefix: string, domain: string, thumbprint: string, accountUrl: string): string {
  const d = Buffer.from(domain, 'ascii');
  const digest = createHash('sha256').update(Buffer.concat([Buffer.from([d.length]), d, Buffer.from(thumbprint, 'ascii'), Buffer.from(accountUrl, 'ascii')])).digest('base64url');
  return `${prefix}sha-256/${digest}`;
}

describe('dns-persist-01: draft-ietf-acme-dns-persist-02 conformance', () => {
  let dns: TestDnsServer;
  let srv: TestServer;
  let acme: RawAcme;
  let meta: Record<string, any>;

  before(async () => {
    dns = await startDnsServer();
    srv = await startTestServer({ '--dns-resolvers': dns.resolver, '--validation-timeout': '5s' });
    acme = await new RawAcme(srv.directoryUrl, srv.rootPem).init();
    assertOk(await acme.register(), 201, srv.directoryUrl);
    meta = (await httpsRequest(srv.directoryUrl, { ca: srv.rootPem })).json.meta ?? {};
  });

  after(async () => {
    await srv.close();
    await dns.close();
  });

  /** The directory's accountHashPrefix (§4.1 item 3: a CA offering dns-persist-01 MUST advertise it). */
  function prefix(): string {
    assert.equal(typeof meta.accountHashPrefix, 'string', `§4.1: directory meta.accountHashPrefix is required (meta: ${JSON.stringify(meta)})`);
    return meta.accountHashPrefix;
  }

  /** A draft-02 record for this account at `at`, hashed over `at` (or `*`). */
  async function record(at: string, extra = '', domainInHash: string = at): Promise<string> {
    const issuer = (meta.issuerDomainNames?.[0] as string | undefined) ?? 'anvil.internal';
    return `${issuer}; accounturi=${hashedAccountUri(prefix(), domainInHash, await acme.thumbprint(), acme.kid!)}${extra}`;
  }

  test('the hashed-URI helper reproduces the draft\'s test vector (§10.2)', () => {
    const uri = hashedAccountUri('https://ca.example/account-hash/', 'example.com', 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs', 'https://ca.example/acct/123');
    assert.equal(uri, 'https://ca.example/account-hash/sha-256/5SQm7n6tPh2-PlLbCKGnViTXX5z19SCN4cPGQHSk-kw');
    const optOut = hashedAccountUri('https://ca.example/account-hash/', '*', 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs', 'https://ca.example/acct/123');
    assert.equal(optOut, 'https://ca.example/account-hash/sha-256/NpDnSwUthQK8zCgFdefYxAdAVPnygMLbs9US6oO-5ug');
  });

  test('§3.1: the challenge object carries issuerDomainNames (1–10 lower-case A-labels, no trailing dot) and no token', async () => {
    const c = (await orderChallenge(acme, dnsIdent(uniqueName('shape02')), TYPE)).challenge;
    assert.ok(!('token' in c), 'no token');
    const names = c.issuerDomainNames;
    assert.ok(Array.isArray(names), `§3.1: "issuerDomainNames" (required, array of strings) is missing: ${JSON.stringify(c)}`);
    assert.ok(names.length >= 1 && names.length <= 10, '1 to 10 names');
    for (const n of names) assert.match(n, /^[a-z0-9.-]+[a-z0-9]$/, `${n} is a lower-case A-label without trailing dot`);
  });

  test('§3.2: the directory meta advertises issuerDomainNames, each also offered in every challenge', async () => {
    const d = meta.issuerDomainNames;
    assert.ok(Array.isArray(d) && d.length >= 1 && d.length <= 10, `§3.2: a CA offering dns-persist-01 MUST advertise meta.issuerDomainNames (meta: ${JSON.stringify(meta)})`);
    const c = (await orderChallenge(acme, dnsIdent(uniqueName('subset')), TYPE)).challenge;
    for (const n of d) assert.ok((c.issuerDomainNames ?? []).includes(n), `§3.2: every value of the directory's list appears in the challenge's (${n})`);
  });

  test('§4.1: the directory meta advertises accountHashPrefix, a URI prefix', () => {
    const p = prefix();
    assert.doesNotThrow(() => new URL(`${p}sha-256/x`), 'prefix + components is a valid URI');
  });

  test('§4.1/§4.2: a record with the hashed accounturi (domain-bound) validates', async () => {
    const name = uniqueName('hashed');
    dns.setTxt(`_validation-persist.${name}`, [await record(name)]);
    assertChallengeValid(await validateOnce(acme, dnsIdent(name), TYPE));
  });

  test('§4.1 item 3.2: a record with the domain-omitted (*) hashed accounturi validates', async () => {
    const name = uniqueName('optout');
    dns.setTxt(`_validation-persist.${name}`, [await record(name, '', '*')]);
    assertChallengeValid(await validateOnce(acme, dnsIdent(name), TYPE));
  });

  test('§4.1 item 3 and change log: the -01 record form (plain account URL as accounturi) is no longer accepted', async () => {
    const name = uniqueName('plain01');
    const issuer = (meta.issuerDomainNames?.[0] as string | undefined) ?? 'anvil.internal';
    dns.setTxt(`_validation-persist.${name}`, [`${issuer}; accounturi=${acme.kid}`]);
    const s = await validateOnce(acme, dnsIdent(name), TYPE);
    assert.equal(s.challenge.status, 'invalid', `a plain account URL must not validate under draft-02: ${JSON.stringify(s.challenge)}`);
  });

  test('§4.1 item 5: the authorization validated by a record with persistUntil=T expires no later than T', async () => {
    const name = uniqueName('clamp');
    const until = Math.floor(Date.now() / 1000) + 2 * 3600;
    // This requirement is independent of the accounturi form: use the hashed URI when the server
    // advertises a prefix, else the account URL it accepts today, so only the clamp is judged here.
    const issuer = (meta.issuerDomainNames?.[0] as string | undefined) ?? 'anvil.internal';
    const accountUri = typeof meta.accountHashPrefix === 'string' ? hashedAccountUri(meta.accountHashPrefix, name, await acme.thumbprint(), acme.kid!) : acme.kid;
    dns.setTxt(`_validation-persist.${name}`, [`${issuer}; accounturi=${accountUri}; persistUntil=${until}`]);
    const s = await validateOnce(acme, dnsIdent(name), TYPE);
    assertChallengeValid(s);
    assert.ok(Date.parse(s.authz.expires) <= until * 1000, `authorization expires ${s.authz.expires}, after persistUntil ${new Date(until * 1000).toISOString()}`);
  });
});
