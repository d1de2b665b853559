/**
 * Operator validators (README "Challenges" → "Operator validators"): the example module in
 * test/fixtures/validators/ (loaded through `modules: [{path, options}]`) and webhook validators
 * calling an HTTPS approval service in this test (its own root, given as `caFile`). Each approves
 * and refuses; the webhook's resilience is measured: 5xx answers are retried (attempts counted at
 * the endpoint), a slow endpoint hits the per-attempt timeout, after `breaker.failures` failed
 * validations the breaker opens and the next challenge fails at once with `connection` without
 * calling the endpoint (and after the cooldown a successful trial closes it again), and an endpoint
 * whose certificate the CA does not trust is never asked.
 * A custom --profiles-dir holds a profile listing these types.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ACME_ERROR, assertOk, assertProblem } from '../helpers/acme-assert.js';
import { makeCsr, newOrder, poll, postAsGet, uniqueName } from '../helpers/acme-flow.js';
import { assertChallengeInvalid, assertChallengeValid, orderChallenge, validateOnce } from '../helpers/challenge-flow.js';
import { makeProfileDir, type ProfileDir } from '../helpers/profile-dir.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { makeTestPki, readJson, startHttpsPeer, type HttpsPeer } from '../helpers/test-pki.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { freePort, removeDir, repoRoot, tempDir } from '../interop/harness.js';

const PROFILE = 'operator';
const MODULE_PATH = path.join(repoRoot(), 'test', 'fixtures', 'validators', 'inventory-validator.mjs');
/** Per-attempt timeout of the main webhook, and how long its "slow" answers take. */
const WEBHOOK_TIMEOUT_MS = 400;
const SLOW_ANSWER_MS = 1_500;
/** How long the breaker endpoint takes to fail: a real attempt is at least this slow. */
const BREAKER_ENDPOINT_DELAY_MS = 1_000;
/** Cooldown of the breaker that is tested for recovery. */
const RECOVER_COOLDOWN_MS = 1_000;
const BEARER = 'Bearer approvals-test-secret';

const dnsIdent = (value: string) => ({ type: 'dns', value });
/** Module refusals: the problem type is checked in each test, the validationRecord in its own test. */
const NO_RECORD_CHECK = { requireRecord: false };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface WebhookCall {
  path: string;
  authorization: string | undefined;
  body: any;
}

describe('operator validators: module and webhook', () => {
  let work: string;
  let profiles: ProfileDir;
  let srv: TestServer;
  let acme: RawAcme;
  let other: RawAcme;
  let approvals: HttpsPeer;
  let untrusted: HttpsPeer;
  let inventoryClose: () => Promise<void>;
  /** Inventory hosts by name, as the module's GET /hosts/<name> answers them. */
  const inventory = new Map<string, unknown>();
  const calls: WebhookCall[] = [];
  /** Whether /recover answers (approving) or fails with 502. */
  let recoverHealthy = false;
  const untrustedCalls: string[] = [];
  const callsFor = (value: string, route = '/approve') => calls.filter((c) => c.path === route && c.body?.identifier?.value === value);

  /** The approval service: the identifier's first label decides the answer. */
  async function approvalService(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req);
    calls.push({ path: req.url ?? '', authorization: req.headers.authorization, body });
    const value: string = body?.identifier?.value ?? '';
    const json = (status: number, answer: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(answer));
    };
    if (req.url === '/recover') return recoverHealthy ? json(200, { approved: true }) : json(502, { error: 'bad gateway' });
    if (req.url === '/breaker') {
      await sleep(BREAKER_ENDPOINT_DELAY_MS);
      return json(503, { error: 'maintenance' });
    }
    if (value.startsWith('ok-')) return json(200, { approved: true });
    if (value.startsWith('no-')) return json(200, { approved: false, detail: 'host is not approved for certificates in the CMDB' });
    if (value.startsWith('flaky-')) return callsFor(value).length <= 2 ? json(500, { error: 'try later' }) : json(200, { approved: true });
    if (value.startsWith('down-')) return json(500, { error: 'down' });
    if (value.startsWith('slow-')) {
      await sleep(SLOW_ANSWER_MS);
      if (!res.destroyed) json(200, { approved: true });
      return;
    }
    json(200, { approved: false, detail: 'unknown test name' });
  }

  before(async () => {
    work = await tempDir('anvil-operator-validators-');
    const trusted = await makeTestPki(work, 'approvals');
    const stranger = await makeTestPki(work, 'stranger');
    approvals = await startHttpsPeer(trusted, (req, res) => void approvalService(req, res));
    untrusted = await startHttpsPeer(stranger, (req, res) => {
      untrustedCalls.push(req.url ?? '');
      res.end(JSON.stringify({ approved: true }));
    });

    const inventoryServer = createServer((req, res) => {
      const name = decodeURIComponent((req.url ?? '').replace(/^\/hosts\//, ''));
      const host = inventory.get(name);
      if (host === undefined) {
        res.statusCode = 404;
        res.end('{"error":"no such host"}');
      } else if (typeof host === 'string') {
        res.end(host); // a raw (broken) body
      } else {
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify(host));
      }
    });
    await new Promise<void>((resolve) => inventoryServer.listen(0, '127.0.0.1', resolve));
    const inventoryUrl = `http://127.0.0.1:${(inventoryServer.address() as AddressInfo).port}`;
    inventoryClose = () => new Promise((resolve) => inventoryServer.close(() => resolve()));

    const config = path.join(work, 'validators.yaml');
    writeFileSync(
      config,
      `# Operator validators for this test (README "Operator validators").
modules:
  - path: ${MODULE_PATH}
    options: { inventoryUrl: "${inventoryUrl}", type: inventory }
  - path: ${MODULE_PATH}
    options: { inventoryUrl: "http://127.0.0.1:${await freePort()}", type: inventory-offline }
webhooks:
  - type: cmdb-approval
    url: ${approvals.url}/approve
    caFile: ./approvals-root.pem
    timeout: ${WEBHOOK_TIMEOUT_MS}ms
    retries: 2
    backoff: 50ms
    breaker: { failures: 100, cooldown: 30s }
    headers: { Authorization: "${BEARER}" }
  - type: cmdb-breaker
    url: ${approvals.url}/breaker
    caFile: ./approvals-root.pem
    timeout: 3s
    retries: 0
    breaker: { failures: 2, cooldown: 10m }
  - type: cmdb-recover
    url: ${approvals.url}/recover
    caFile: ./approvals-root.pem
    retries: 0
    breaker: { failures: 1, cooldown: ${RECOVER_COOLDOWN_MS}ms }
  - type: untrusted-approval
    url: ${untrusted.url}/approve
    caFile: ./approvals-root.pem
    retries: 1
    backoff: 50ms
`,
    );
    profiles = makeProfileDir({
      extra: {
        [PROFILE]: {
          description: 'services approved by the operator (inventory module, CMDB webhooks)',
          validity: '24h',
          challenges: ['inventory', 'inventory-offline', 'cmdb-approval', 'cmdb-breaker', 'cmdb-recover', 'untrusted-approval'],
        },
      },
    });
    srv = await startTestServer({ '--validators-config': config, '--profiles-dir': profiles.dir, '--validation-timeout': '8s' });
    acme = await new RawAcme(srv.directoryUrl, srv.rootPem).init();
    assertOk(await acme.register(), 201, srv.directoryUrl);
    other = await new RawAcme(srv.directoryUrl, srv.rootPem).init();
    assertOk(await other.register(), 201, srv.directoryUrl);
  });

  after(async () => {
    await srv?.close();
    await approvals?.close();
    await untrusted?.close();
    await inventoryClose?.();
    profiles?.remove();
    await removeDir(work);
  });

  const attempt = (name: string, type: string) => validateOnce(acme, dnsIdent(name), type, {}, { profile: PROFILE });

  test('the profile offers every configured operator type, in its order, for a DNS name', async () => {
    const pending = await orderChallenge(acme, dnsIdent(uniqueName('offer')), 'inventory', { profile: PROFILE });
    assert.deepEqual(
      pending.authz.challenges.map((c: any) => c.type),
      ['inventory', 'inventory-offline', 'cmdb-approval', 'cmdb-breaker', 'cmdb-recover', 'untrusted-approval'],
    );
  });

  test('a wildcard is refused at newOrder: no operator type here can prove one (rejectedIdentifier)', async () => {
    const res = await newOrder(acme, [dnsIdent(`*.${uniqueName('wild')}`)], { profile: PROFILE });
    assertProblem(res, 400, 'rejectedIdentifier', srv.directoryUrl);
  });

  describe('module validator (test/fixtures/validators/inventory-validator.mjs)', () => {
    test('approves a host the inventory lists for this account; the record is what the module returned', async () => {
      const name = uniqueName('inv-ok');
      inventory.set(name, { name, owner: 'team-a', acmeAccounts: [acme.kid] });
      const s = await attempt(name, 'inventory');
      assertChallengeValid(s);
      const record = s.challenge.validationRecord[0];
      assert.equal(record.owner, 'team-a');
      assert.match(record.inventory, new RegExp(`/hosts/${name.replace(/\./g, '\\.')}$`));
    });

    test('an approved name can be issued end to end', async () => {
      const name = uniqueName('inv-issue');
      inventory.set(name, { name, owner: 'team-a', acmeAccounts: [acme.kid] });
      const s = await attempt(name, 'inventory');
      assertChallengeValid(s);
      const order = await poll(acme, s.pending.orderUrl, (b) => b.status !== 'pending');
      assert.equal(order.json.status, 'ready', order.body);
      const { csr } = await makeCsr([name]);
      assertOk(await acme.post(order.json.finalize, { csr }), 200, srv.directoryUrl);
      const valid = await poll(acme, s.pending.orderUrl, (b) => b.status === 'valid' || b.status === 'invalid');
      assert.equal(valid.json.status, 'valid', valid.body);
      const cert = await postAsGet(acme, valid.json.certificate);
      assert.equal(cert.status, 200);
    });

    test('refuses a host the inventory does not know (unauthorized)', async () => {
      const error = assertChallengeInvalid(await attempt(uniqueName('inv-unknown'), 'inventory'), 'unauthorized', NO_RECORD_CHECK);
      assert.match(error.detail, /not in the host inventory/);
    });

    test('refuses a host the inventory lists for another account (unauthorized)', async () => {
      const name = uniqueName('inv-other');
      inventory.set(name, { name, owner: 'team-b', acmeAccounts: [other.kid] });
      const error = assertChallengeInvalid(await attempt(name, 'inventory'), 'unauthorized', NO_RECORD_CHECK);
      assert.match(error.detail, /team-b/);
    });

    test('refuses a decommissioned host with the type the module chose (rejectedIdentifier)', async () => {
      const name = uniqueName('inv-gone');
      inventory.set(name, { name, owner: 'team-a', acmeAccounts: [acme.kid], decommissioned: true });
      assertChallengeInvalid(await attempt(name, 'inventory'), 'rejectedIdentifier', NO_RECORD_CHECK);
    });

    test('an unreachable inventory is a connection failure', async () => {
      assertChallengeInvalid(await attempt(uniqueName('inv-offline'), 'inventory-offline'), 'connection', NO_RECORD_CHECK);
    });

    test('a module refusal still leaves a validationRecord (README: every validation stores what was checked)', async () => {
      const s = await attempt(uniqueName('inv-record'), 'inventory');
      assert.equal(s.challenge.status, 'invalid');
      assert.ok(
        Array.isArray(s.challenge.validationRecord) && s.challenge.validationRecord.length > 0,
        `a refused module challenge must say what was checked (at least the validator type/module): ${JSON.stringify(s.challenge)}`,
      );
    });

    test('an error without acmeType (a module bug) becomes serverInternal, with no internals in the detail', async () => {
      const name = uniqueName('inv-broken');
      inventory.set(name, '<html>not json</html>');
      const s = await attempt(name, 'inventory');
      assert.equal(s.challenge.status, 'invalid');
      assert.equal(s.challenge.error?.type, `${ACME_ERROR}serverInternal`, JSON.stringify(s.challenge));
      assert.doesNotMatch(s.challenge.error.detail, /SyntaxError|JSON|at .*\.mjs/, 'the module error stays in the log');
      assert.ok(Array.isArray(s.challenge.validationRecord), `the challenge still has a validationRecord: ${JSON.stringify(s.challenge)}`);
    });
  });

  describe('webhook validator', () => {
    test('approves: the service gets the documented request with the configured headers', async () => {
      const name = `ok-${uniqueName('hook')}`;
      const s = await attempt(name, 'cmdb-approval');
      assertChallengeValid(s);
      const [call, ...more] = callsFor(name);
      assert.equal(more.length, 0, 'one call');
      assert.equal(call!.authorization, BEARER);
      assert.deepEqual(call!.body, {
        type: 'cmdb-approval',
        identifier: { type: 'dns', value: name },
        wildcard: false,
        account: { id: acme.kid!.split('/').pop(), url: acme.kid, thumbprint: await acme.thumbprint() },
        challenge: { token: s.pending.challenge.token },
      });
      assert.equal(s.challenge.validationRecord[0].attempts, 1);
    });

    test('refuses: the service\'s detail is in the unauthorized problem, and a refusal is not retried', async () => {
      const name = `no-${uniqueName('hook')}`;
      const error = assertChallengeInvalid(await attempt(name, 'cmdb-approval'), 'unauthorized');
      assert.match(error.detail, /not approved for certificates in the CMDB/);
      assert.equal(callsFor(name).length, 1);
    });

    test('HTTP 500 is retried (twice, as configured) and the third attempt\'s approval counts', async () => {
      const name = `flaky-${uniqueName('hook')}`;
      const s = await attempt(name, 'cmdb-approval');
      assertChallengeValid(s);
      assert.equal(callsFor(name).length, 3, 'the endpoint saw three attempts');
      assert.equal(s.challenge.validationRecord[0].attempts, 3);
    });

    test('an endpoint that keeps answering 500: 1 + retries attempts, then connection', async () => {
      const name = `down-${uniqueName('hook')}`;
      const s = await attempt(name, 'cmdb-approval');
      const error = assertChallengeInvalid(s, 'connection');
      assert.match(error.detail, /HTTP 500/);
      assert.equal(callsFor(name).length, 3);
      assert.equal(s.challenge.validationRecord[0].attempts, 3);
    });

    test('a slow endpoint hits the per-attempt timeout on every attempt: connection, well before it would answer', async () => {
      const name = `slow-${uniqueName('hook')}`;
      const s = await attempt(name, 'cmdb-approval');
      const seen = `${JSON.stringify(s.challenge)} after ${s.elapsedMs} ms; calls: ${callsFor(name).length}`;
      const error = assertChallengeInvalid(s, 'connection');
      assert.match(error.detail, /timeout/i, seen);
      assert.equal(s.challenge.validationRecord[0].attempts, 3, seen);
      // 3 attempts × 400 ms + backoff 50 + 100 ms; had the timeout not applied, one answer alone takes 1.5 s each.
      assert.ok(s.elapsedMs >= 3 * WEBHOOK_TIMEOUT_MS, `took ${s.elapsedMs} ms`);
      assert.ok(s.elapsedMs < 3 * SLOW_ANSWER_MS, `took ${s.elapsedMs} ms: the per-attempt timeout did not cut the attempts short`);
    });

    test('after breaker.failures failed validations the breaker opens: the next challenge fails at once with connection, without a call', async () => {
      const first = await attempt(`brk-${uniqueName('a')}`, 'cmdb-breaker');
      assertChallengeInvalid(first, 'connection');
      const second = await attempt(`brk-${uniqueName('b')}`, 'cmdb-breaker');
      assertChallengeInvalid(second, 'connection');
      for (const s of [first, second]) assert.ok(s.elapsedMs >= BREAKER_ENDPOINT_DELAY_MS, `a real attempt waits for the endpoint (${s.elapsedMs} ms)`);
      const before = calls.filter((c) => c.path === '/breaker').length;
      assert.equal(before, 2);

      const open = await attempt(`brk-${uniqueName('c')}`, 'cmdb-breaker');
      const error = assertChallengeInvalid(open, 'connection');
      assert.equal(calls.filter((c) => c.path === '/breaker').length, before, 'the open breaker did not call the endpoint');
      assert.equal(open.challenge.validationRecord[0].circuit, 'open');
      assert.equal(open.challenge.validationRecord[0].attempts, 0);
      assert.ok(open.elapsedMs < BREAKER_ENDPOINT_DELAY_MS, `fails fast: ${open.elapsedMs} ms`);
      assert.match(error.detail, /fail/i);
    });

    test('after the cooldown one trial call is let through; when it succeeds the breaker closes again', async () => {
      const recoverCalls = () => calls.filter((c) => c.path === '/recover').length;
      recoverHealthy = false;
      assertChallengeInvalid(await attempt(`rec-${uniqueName('a')}`, 'cmdb-recover'), 'connection');
      assert.equal(recoverCalls(), 1);
      const open = await attempt(`rec-${uniqueName('b')}`, 'cmdb-recover');
      assertChallengeInvalid(open, 'connection');
      assert.equal(open.challenge.validationRecord[0].circuit, 'open');
      assert.equal(recoverCalls(), 1, 'open: no call');

      recoverHealthy = true;
      await sleep(RECOVER_COOLDOWN_MS + 200);
      assertChallengeValid(await attempt(`rec-${uniqueName('c')}`, 'cmdb-recover'));
      assert.equal(recoverCalls(), 2, 'the trial reached the endpoint');
      assertChallengeValid(await attempt(`rec-${uniqueName('d')}`, 'cmdb-recover'));
      assert.equal(recoverCalls(), 3, 'closed again: every challenge calls the endpoint');
    });

    test('an open breaker of one webhook type leaves the other types working', async () => {
      assertChallengeValid(await attempt(`ok-${uniqueName('after')}`, 'cmdb-approval'));
    });

    test('TLS to an endpoint whose certificate is not signed by caFile is refused; the endpoint is never asked', async () => {
      const s = await attempt(`ok-${uniqueName('mitm')}`, 'untrusted-approval');
      const error = assertChallengeInvalid(s, 'connection');
      assert.match(error.detail, /CERT|SIGNATURE|ISSUER/, 'the detail names the certificate verification failure');
      assert.equal(untrustedCalls.length, 0, 'no request reached the untrusted endpoint');
    });
  });
});
