/**
 * dns-persist-01 in its draft-01 compatibility mode (`dnsPersist.acceptAccountUrl: true`, README
 * "dns-persist-01"): a standing TXT record at `_validation-persist.<name>` in RFC 8659 issue-value
 * syntax, `<issuer-domain-name>; accounturi=<account URL>[; policy=wildcard][; persistUntil=<unix time>]`,
 * authorizes one account with no DNS change per issuance. The challenge object then also carries
 * the draft-01 fields `accounturi` and `issuer-domain-names`, and no token. Refusals are `unauthorized`.
 * (This is the form Pebble and Let's Encrypt staging deploy; dns-persist-draft02.test.ts checks the
 * default, draft-02, behaviour: hashed account URIs.) What both forms share is checked here.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertOk } from '../helpers/acme-assert.js';
import { newOrder, postAsGet, uniqueName } from '../helpers/acme-flow.js';
import { assertChallengeInvalid, assertChallengeValid, challengeOf, orderChallenge, respondAndSettle, validateOnce, type Settled } from '../helpers/challenge-flow.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { removeDir, tempDir } from '../interop/harness.js';

const TYPE = 'dns-persist-01';
/** Issuer domain names configured for this server (dnsPersist.issuerDomainNames). */
const ISSUERS = ['ca.anvil.test', 'anvil-alt.test'];
const dnsIdent = (value: string) => ({ type: 'dns', value });
const wildcard = (value: string) => ({ type: 'dns', value: `*.${value}` });

describe('dns-persist-01 (README form)', () => {
  let dns: TestDnsServer;
  let srv: TestServer;
  let acme: RawAcme;
  let other: RawAcme;
  let dir: string;

  before(async () => {
    dns = await startDnsServer();
    dir = await tempDir('anvil-dns-persist-');
    const config = path.join(dir, 'validators.yaml');
    writeFileSync(config, `dnsPersist:\n  issuerDomainNames: [${ISSUERS.join(', ')}]\n  acceptAccountUrl: true\n`);
    srv = await startTestServer({ '--dns-resolvers': dns.resolver, '--validators-config': config, '--validation-timeout': '5s' });
    acme = await new RawAcme(srv.directoryUrl, srv.rootPem).init();
    assertOk(await acme.register(), 201, srv.directoryUrl);
    other = await new RawAcme(srv.directoryUrl, srv.rootPem).init();
    assertOk(await other.register(), 201, srv.directoryUrl);
  });

  after(async () => {
    await srv.close();
    await dns.close();
    await removeDir(dir);
  });

  /** The README's record for this test's account. */
  const record = (extra = '', issuer = ISSUERS[0]!, accountUrl = acme.kid!): string => `${issuer}; accounturi=${accountUrl}${extra}`;
  const persistAt = (name: string, ...values: string[]) => dns.setTxt(`_validation-persist.${name}`, values);

  test('the challenge object carries accounturi (this account) and issuer-domain-names, and no token', async () => {
    const pending = await orderChallenge(acme, dnsIdent(uniqueName('shape')), TYPE);
    const c = pending.challenge;
    assert.equal(c.accounturi, acme.kid, 'accounturi is the account URL (the newAccount Location)');
    assert.deepEqual(c['issuer-domain-names'], ISSUERS);
    assert.ok(!('token' in c), `no token: ${JSON.stringify(c)}`);
    assert.equal(c.status, 'pending');
    assert.equal(typeof c.url, 'string');
  });

  test('a record naming the issuer and this account validates', async () => {
    const name = uniqueName('basic');
    persistAt(name, record());
    const s = await validateOnce(acme, dnsIdent(name), TYPE);
    assertChallengeValid(s);
    assert.equal(s.challenge.validationRecord[0].hostname, `_validation-persist.${name}`);
  });

  test('any issuer domain name from the challenge is accepted; records of other CAs at the name are ignored', async () => {
    const name = uniqueName('multi');
    persistAt(name, `other-ca.test; accounturi=${acme.kid}`, record('', ISSUERS[1]));
    assertChallengeValid(await validateOnce(acme, dnsIdent(name), TYPE));
  });

  test('a record split into several character-strings is read as their concatenation (RFC 1035 §3.3.14)', async () => {
    const name = uniqueName('split');
    // The test DNS server (dns2) writes an array value as one TXT record of several character-strings.
    const chunks = [`${ISSUERS[0]};`, ` accounturi=${acme.kid}`];
    persistAt(name, chunks as unknown as string);
    assertChallengeValid(await validateOnce(acme, dnsIdent(name), TYPE));
  });

  test('a record for another account: invalid with unauthorized', async () => {
    const name = uniqueName('otheracct');
    persistAt(name, record('', ISSUERS[0], other.kid));
    const error = assertChallengeInvalid(await validateOnce(acme, dnsIdent(name), TYPE), 'unauthorized');
    assert.match(error.detail, /accounturi/);
  });

  test('accounturi is compared exactly (RFC 3986 §6.2.1): a trailing slash or another case is another account', async () => {
    const name = uniqueName('exact');
    persistAt(name, record('', ISSUERS[0], `${acme.kid}/`), record('', ISSUERS[0], acme.kid!.toUpperCase()));
    assertChallengeInvalid(await validateOnce(acme, dnsIdent(name), TYPE), 'unauthorized');
  });

  test('a record naming an issuer domain name this CA does not use: invalid with unauthorized', async () => {
    const name = uniqueName('wrongissuer');
    persistAt(name, record('', 'other-ca.test'));
    assertChallengeInvalid(await validateOnce(acme, dnsIdent(name), TYPE), 'unauthorized');
  });

  test('persistUntil in the past: invalid with unauthorized; in the future: valid', async () => {
    const past = uniqueName('expired');
    persistAt(past, record(`; persistUntil=${Math.floor(Date.now() / 1000) - 3600}`));
    const error = assertChallengeInvalid(await validateOnce(acme, dnsIdent(past), TYPE), 'unauthorized');
    assert.match(error.detail, /persistUntil/);

    const future = uniqueName('future');
    persistAt(future, record(`; persistUntil=${Math.floor(Date.now() / 1000) + 86_400}`));
    assertChallengeValid(await validateOnce(acme, dnsIdent(future), TYPE));
  });

  test('a parameter with an unrecognized tag is ignored (forward compatibility of the issue-value)', async () => {
    const name = uniqueName('futuretag');
    persistAt(name, record('; futureparam=some-value'));
    assertChallengeValid(await validateOnce(acme, dnsIdent(name), TYPE));
  });

  test('no _validation-persist record: invalid with unauthorized', async () => {
    assertChallengeInvalid(await validateOnce(acme, dnsIdent(uniqueName('absent')), TYPE), 'unauthorized');
  });

  describe('policy=wildcard', () => {
    /** Orders `*.<parent>` and answers dns-persist-01 (dns-01 is the other challenge offered). */
    async function wildcardAttempt(parent: string): Promise<Settled> {
      const created = await newOrder(acme, [wildcard(parent)]);
      assert.equal(created.status, 201, created.body);
      const authzUrl = String(created.json.authorizations[0]);
      const authz = (await postAsGet(acme, authzUrl)).json;
      assert.equal(authz.wildcard, true);
      assert.deepEqual(authz.challenges.map((c: any) => c.type).sort(), ['dns-01', TYPE], 'a wildcard is offered only the DNS challenges');
      return respondAndSettle(acme, { orderUrl: String(created.headers.location), order: created.json, authzUrl, authz, challenge: challengeOf(authz, TYPE) });
    }

    test('a record with policy=wildcard at a parent authorizes a subdomain', async () => {
      const parent = uniqueName('tree');
      persistAt(parent, record('; policy=wildcard'));
      const s = await validateOnce(acme, dnsIdent(`app.${parent}`), TYPE);
      assertChallengeValid(s);
      const accepted = (s.challenge.validationRecord as any[]).find((r) => r.accepted === true);
      assert.equal(accepted?.hostname, `_validation-persist.${parent}`, 'the parent record was the one accepted');
    });

    test('… and a deeper subdomain', async () => {
      const parent = uniqueName('deep');
      persistAt(parent, record('; policy=wildcard'));
      assertChallengeValid(await validateOnce(acme, dnsIdent(`a.b.${parent}`), TYPE));
    });

    test('… and a wildcard at that name', async () => {
      const parent = uniqueName('wild');
      persistAt(parent, record('; policy=wildcard'));
      assertChallengeValid(await wildcardAttempt(parent));
    });

    test('the policy value compares case-insensitively (policy=WILDCARD)', async () => {
      const parent = uniqueName('upper');
      persistAt(parent, record('; policy=WILDCARD'));
      assertChallengeValid(await validateOnce(acme, dnsIdent(`app.${parent}`), TYPE));
    });

    test('… and the name itself', async () => {
      const parent = uniqueName('self');
      persistAt(parent, record('; policy=wildcard'));
      assertChallengeValid(await validateOnce(acme, dnsIdent(parent), TYPE));
    });

    test('without policy=wildcard the parent record does not authorize a subdomain (unauthorized)', async () => {
      const parent = uniqueName('flat');
      persistAt(parent, record());
      const error = assertChallengeInvalid(await validateOnce(acme, dnsIdent(`app.${parent}`), TYPE), 'unauthorized');
      assert.match(error.detail, /policy=wildcard/);
    });

    test('without policy=wildcard a record does not authorize a wildcard (unauthorized)', async () => {
      const parent = uniqueName('flatwild');
      persistAt(parent, record());
      assertChallengeInvalid(await wildcardAttempt(parent), 'unauthorized');
    });

    test('policy=wildcard for another account at the parent does not authorize this one', async () => {
      const parent = uniqueName('foreign');
      persistAt(parent, record('; policy=wildcard', ISSUERS[0], other.kid));
      assertChallengeInvalid(await validateOnce(acme, dnsIdent(`app.${parent}`), TYPE), 'unauthorized');
    });

    test('a wildcard record at a sibling does not authorize (only parents are searched)', async () => {
      const parent = uniqueName('sib');
      persistAt(`other.${parent}`, record('; policy=wildcard'));
      assertChallengeInvalid(await validateOnce(acme, dnsIdent(`app.${parent}`), TYPE), 'unauthorized');
    });
  });
});
