/**
 * Account management (RFC 8555 §7.3) against a server with terms of service configured:
 * creation, lookup by key, contacts, update, POST-as-GET, cross-account access, deactivation.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertOk, assertProblem, header, links } from '../helpers/acme-assert.js';
import { postAsGet } from '../helpers/acme-flow.js';
import { httpsRequest, RawAcme } from '../helpers/raw-acme.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const TOS = 'https://x.test/tos';

let srv: TestServer;
let dir: string;

before(async () => {
  srv = await startTestServer({ '--terms-of-service': TOS });
  dir = srv.directoryUrl;
});

after(() => srv.close());

const client = () => new RawAcme(dir, srv.rootPem).init();

async function registered(): Promise<RawAcme> {
  const c = await client();
  assertOk(await c.register(), 201, dir);
  return c;
}

const newAccount = (c: RawAcme, payload: unknown) => c.post(c.directory.newAccount, payload, { useJwk: true });

/** §7.3.1: onlyReturnExisting proves whether the key has an account, without creating one. */
async function assertNoAccountFor(c: RawAcme): Promise<void> {
  assertProblem(await newAccount(c, { onlyReturnExisting: true }), 400, 'accountDoesNotExist', dir);
}

describe('terms of service (§7.1.1, §7.3)', () => {
  test('the directory meta names the configured terms of service', async () => {
    const res = await httpsRequest(dir, { ca: srv.rootPem });
    assert.equal(res.json.meta.termsOfService, TOS);
  });

  test('newAccount without agreeing is refused with userActionRequired and a Link rel="terms-of-service"', async () => {
    const c = await client();
    for (const payload of [{}, { termsOfServiceAgreed: false }]) {
      const res = await newAccount(c, payload);
      assertProblem(res, 403, 'userActionRequired', dir);
      assert.deepEqual(links(res, 'terms-of-service'), [TOS], `Link: ${header(res, 'link')}`);
    }
    await assertNoAccountFor(c);
  });
});

describe('newAccount (§7.3, §7.3.1)', () => {
  test('creates an account: 201, Location under /acct/, status valid, an orders URL', async () => {
    const c = await client();
    const res = await newAccount(c, { termsOfServiceAgreed: true, contact: ['mailto:admin@example.test'] });
    assertOk(res, 201, dir);
    const location = header(res, 'location');
    assert.ok(location.startsWith(`${srv.baseUrl}/acct/`), `Location: ${location}`);
    assert.equal(res.json.status, 'valid');
    assert.deepEqual(res.json.contact, ['mailto:admin@example.test']);
    assert.equal(res.json.termsOfServiceAgreed, true);
    assert.equal(typeof res.json.orders, 'string');
  });

  test('the same key again returns 200 with the same Location and the account unchanged', async () => {
    const c = await client();
    const first = await newAccount(c, { termsOfServiceAgreed: true, contact: ['mailto:first@example.test'] });
    assertOk(first, 201, dir);
    const again = await newAccount(c, { termsOfServiceAgreed: true, contact: ['mailto:second@example.test'] });
    assertOk(again, 200, dir);
    assert.equal(header(again, 'location'), header(first, 'location'));
    assert.deepEqual(again.json.contact, ['mailto:first@example.test'], 'fields of a repeated newAccount are ignored');
  });

  test('onlyReturnExisting returns the existing account with 200 and its Location', async () => {
    const c = await registered();
    const res = await newAccount(c, { onlyReturnExisting: true });
    assertOk(res, 200, dir);
    assert.equal(header(res, 'location'), c.kid);
  });

  test('onlyReturnExisting for an unknown key is refused with accountDoesNotExist and creates nothing', async () => {
    const c = await client();
    await assertNoAccountFor(c);
    await assertNoAccountFor(c);
  });
});

describe('contacts (§7.3)', () => {
  const cases: [string, unknown, number, string][] = [
    ['a tel: contact is refused with unsupportedContact', ['tel:+15555550100'], 400, 'unsupportedContact'],
    ['a mailto: with header fields (?subject=) is refused with invalidContact', ['mailto:a@b.test?subject=x'], 400, 'invalidContact'],
    ['a mailto: that is not an email address is refused with invalidContact', ['mailto:not-an-email'], 400, 'invalidContact'],
    ['a contact that is not an array is refused as malformed', 'mailto:a@b.test', 400, 'malformed'],
  ];
  for (const [name, contact, status, type] of cases) {
    test(`newAccount: ${name}`, async () => {
      const c = await client();
      assertProblem(await newAccount(c, { termsOfServiceAgreed: true, contact }), status, type, dir);
      await assertNoAccountFor(c);
    });

    test(`account update: ${name} and the contact is unchanged`, async () => {
      const c = await registered();
      assertProblem(await c.post(c.kid!, { contact }), status, type, dir);
      assert.deepEqual((await postAsGet(c, c.kid!)).json.contact, []);
    });
  }

  test('an account update replaces the contact list (200) and POST-as-GET shows it', async () => {
    const c = await registered();
    const res = await c.post(c.kid!, { contact: ['mailto:ops@example.test', 'mailto:oncall@example.test'] });
    assertOk(res, 200, dir);
    assert.deepEqual(res.json.contact, ['mailto:ops@example.test', 'mailto:oncall@example.test']);
    const read = await postAsGet(c, c.kid!);
    assert.deepEqual(read.json.contact, ['mailto:ops@example.test', 'mailto:oncall@example.test']);
  });
});

describe('the account resource (§7.3.2, §7.3.6)', () => {
  test('posting the whole account object back with its unchanged "status": "valid" updates the contact (§7.3.2, certbot update_account)', async () => {
    const c = await registered();
    const current = (await postAsGet(c, c.kid!)).json;
    assert.equal(current.status, 'valid');
    const res = await c.post(c.kid!, { ...current, contact: ['mailto:new@example.com'] });
    assertOk(res, 200, dir);
    assert.equal(res.json.status, 'valid', res.body);
    assert.deepEqual(res.json.contact, ['mailto:new@example.com'], res.body);
    assert.deepEqual((await postAsGet(c, c.kid!)).json.contact, ['mailto:new@example.com']);
  });

  test('an account update asking for a status other than its own or "deactivated" is malformed and changes nothing', async () => {
    const c = await registered();
    for (const status of ['revoked', 'pending', 'invalid']) {
      const problem = assertProblem(await c.post(c.kid!, { status, contact: ['mailto:other@example.com'] }), 400, 'malformed', dir);
      assert.match(problem.detail, /can only be changed to "deactivated"/);
    }
    const after = (await postAsGet(c, c.kid!)).json;
    assert.equal(after.status, 'valid');
    assert.deepEqual(after.contact ?? [], []);
  });

  test('POST-as-GET to the account URL returns the account (200)', async () => {
    const c = await registered();
    const res = await postAsGet(c, c.kid!);
    assertOk(res, 200, dir);
    assert.equal(res.json.status, 'valid');
    assert.equal(res.json.orders, `${c.kid}/orders`);
  });

  test("one account's kid posting to another account's URL is refused as unauthorized", async () => {
    const a = await registered();
    const b = await registered();
    assertProblem(await postAsGet(a, b.kid!), 403, 'unauthorized', dir);
    assertProblem(await a.post(b.kid!, { contact: ['mailto:evil@example.test'] }), 403, 'unauthorized', dir);
    assertProblem(await a.post(b.kid!, { status: 'deactivated' }), 403, 'unauthorized', dir);
    assertProblem(await postAsGet(a, `${b.kid}/orders`), 403, 'unauthorized', dir);
    const stillB = await postAsGet(b, b.kid!);
    assert.equal(stillB.json.status, 'valid');
    assert.deepEqual(stillB.json.contact, []);
  });

  test('deactivation returns the account with status deactivated (200); every later request is unauthorized', async () => {
    const c = await registered();
    const res = await c.post(c.kid!, { status: 'deactivated' });
    assertOk(res, 200, dir);
    assert.equal(res.json.status, 'deactivated');
    assertProblem(await postAsGet(c, c.kid!), 403, 'unauthorized', dir);
    assertProblem(await c.post(c.kid!, { status: 'deactivated' }), 403, 'unauthorized', dir);
    assertProblem(await c.post(c.directory.newOrder, { identifiers: [{ type: 'dns', value: 'a.test' }] }), 403, 'unauthorized', dir);
    assertProblem(await newAccount(c, { termsOfServiceAgreed: true }), 403, 'unauthorized', dir);
  });
});
