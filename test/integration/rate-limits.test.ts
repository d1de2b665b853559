/**
 * Rate limits (README "Operations" and "Settings", `--rate-limit-*`): with small limits and
 * 4-second windows, the request over each limit is refused with HTTP 429
 * `urn:ietf:params:acme:error:rateLimited` (RFC 8555 §6.7) and a `Retry-After` of whole seconds no
 * longer than the window (RFC 9110 §10.2.3 delay-seconds), `anvil_rate_limited_total{limit}` counts
 * it, and after waiting exactly the Retry-After the same request succeeds. Each limit runs on its
 * own server so the limits do not interfere.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertOk, assertProblem, header } from '../helpers/acme-assert.js';
import { dns, http01Of, newOrder, pollSettled, postAsGet, uniqueName } from '../helpers/acme-flow.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { delta, scrapeMetrics } from '../helpers/prometheus.js';
import { RawAcme, type HttpResponse } from '../helpers/raw-acme.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const WINDOW_S = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dnsServer: TestDnsServer;
let responder: Http01Responder;

before(async () => {
  dnsServer = await startDnsServer();
  responder = await startHttp01Responder();
});

after(async () => {
  await responder.close();
  await dnsServer.close();
});

/** A server with one limit set (and the other limits at their defaults). */
async function serverWith(flag: string, value: string): Promise<TestServer> {
  return startTestServer({ '--dns-resolvers': dnsServer.resolver, '--http01-port': String(responder.port), '--validation-timeout': '5s', [flag]: value });
}

async function account(srv: TestServer): Promise<RawAcme> {
  const acme = await new RawAcme(srv.directoryUrl, srv.rootPem).init();
  assertOk(await acme.register(), 201, srv.directoryUrl);
  return acme;
}

/** The refusal: 429 rateLimited, Retry-After in whole seconds within the window; returns the seconds. */
function assertRateLimited(res: HttpResponse, srv: TestServer, limitName: string): number {
  const problem = assertProblem(res, 429, 'rateLimited', srv.directoryUrl);
  assert.match(problem.detail, new RegExp(limitName), `the detail names the limit: ${problem.detail}`);
  const retryAfter = header(res, 'retry-after');
  assert.match(retryAfter, /^\d+$/, `Retry-After is delay-seconds: ${JSON.stringify(retryAfter)}`);
  const seconds = Number(retryAfter);
  assert.ok(seconds >= 1 && seconds <= WINDOW_S, `Retry-After ${seconds} s is within the ${WINDOW_S} s window`);
  return seconds;
}

/** Runs `refused` (must be limited), checks the metric, waits Retry-After, then `retry` must succeed. */
async function refusedThenRecovers(srv: TestServer, limitName: string, refused: () => Promise<HttpResponse>, retry: () => Promise<HttpResponse>, okStatus: number): Promise<void> {
  const before = await scrapeMetrics(srv.server.adminUrl);
  const seconds = assertRateLimited(await refused(), srv, limitName);
  const after = await scrapeMetrics(srv.server.adminUrl);
  assert.equal(delta(before, after, 'anvil_rate_limited_total', { limit: limitName }), 1, `anvil_rate_limited_total{limit="${limitName}"} counts the refusal`);
  await sleep(seconds * 1000);
  const again = await retry();
  assert.equal(again.status, okStatus, `after waiting Retry-After (${seconds} s) the request succeeds: ${again.status} ${again.body}`);
}

describe('rate limits: 429 rateLimited with Retry-After, then recovery', () => {
  test(`--rate-limit-orders-per-account 3/${WINDOW_S}s: the 4th order of an account is refused, another account is not`, async () => {
    const srv = await serverWith('--rate-limit-orders-per-account', `3/${WINDOW_S}s`);
    try {
      const acme = await account(srv);
      for (let i = 0; i < 3; i++) assertOk(await newOrder(acme, dns(uniqueName('rl-acct'))), 201, srv.directoryUrl);
      const other = await account(srv);
      assertOk(await newOrder(other, dns(uniqueName('rl-acct-other'))), 201, srv.directoryUrl);
      await refusedThenRecovers(
        srv,
        'ordersPerAccount',
        () => newOrder(acme, dns(uniqueName('rl-acct'))),
        () => newOrder(acme, dns(uniqueName('rl-acct'))),
        201,
      );
    } finally {
      await srv.close();
    }
  });

  test(`--rate-limit-accounts-per-ip 2/${WINDOW_S}s: the 3rd new account from 127.0.0.1 is refused`, async () => {
    const srv = await serverWith('--rate-limit-accounts-per-ip', `2/${WINDOW_S}s`);
    try {
      await account(srv);
      await account(srv);
      const third = await new RawAcme(srv.directoryUrl, srv.rootPem).init();
      await refusedThenRecovers(srv, 'accountsPerIp', () => third.register(), () => third.register(), 201);
    } finally {
      await srv.close();
    }
  });

  test(`--rate-limit-failed-validations 2/${WINDOW_S}s: after 2 failed validations the account's next order is refused`, async () => {
    const srv = await serverWith('--rate-limit-failed-validations', `2/${WINDOW_S}s`);
    try {
      const acme = await account(srv);
      for (let i = 0; i < 2; i++) {
        const created = await newOrder(acme, dns(uniqueName('rl-fail')));
        assertOk(created, 201, srv.directoryUrl);
        const authzUrl = String(created.json.authorizations[0]);
        const challenge = http01Of((await postAsGet(acme, authzUrl)).json);
        responder.set(challenge.token, `${challenge.token}.wrong-thumbprint`);
        assert.equal((await acme.post(challenge.url, {})).status, 200);
        assert.equal((await pollSettled(acme, authzUrl)).json.status, 'invalid', 'the validation fails');
      }
      const other = await account(srv);
      assertOk(await newOrder(other, dns(uniqueName('rl-fail-other'))), 201, srv.directoryUrl);
      await refusedThenRecovers(
        srv,
        'failedValidationsPerAccount',
        () => newOrder(acme, dns(uniqueName('rl-fail'))),
        () => newOrder(acme, dns(uniqueName('rl-fail'))),
        201,
      );
    } finally {
      await srv.close();
    }
  });

  test(`--rate-limit-orders-per-domain 3/${WINDOW_S}s: the 4th order under one registered domain is refused, across accounts`, async () => {
    const srv = await serverWith('--rate-limit-orders-per-domain', `3/${WINDOW_S}s`);
    try {
      const domain = uniqueName('rl-dom');
      for (let i = 0; i < 3; i++) assertOk(await newOrder(await account(srv), dns(`host${i}.${domain}`)), 201, srv.directoryUrl);
      const late = await account(srv);
      assertOk(await newOrder(late, dns(uniqueName('rl-dom-other'))), 201, srv.directoryUrl);
      await refusedThenRecovers(
        srv,
        'ordersPerDomain',
        () => newOrder(late, dns(`host3.${domain}`)),
        () => newOrder(late, dns(`host4.${domain}`)),
        201,
      );
    } finally {
      await srv.close();
    }
  });

  test(`--rate-limit-orders-per-profile 3/${WINDOW_S}s: the 4th order under one profile is refused, across accounts; another profile is not`, async () => {
    const srv = await serverWith('--rate-limit-orders-per-profile', `3/${WINDOW_S}s`);
    try {
      for (let i = 0; i < 3; i++) assertOk(await newOrder(await account(srv), dns(uniqueName('rl-prof')), { profile: 'mtls' }), 201, srv.directoryUrl);
      const late = await account(srv);
      assertOk(await newOrder(late, dns(uniqueName('rl-prof')), { profile: 'default' }), 201, srv.directoryUrl);
      await refusedThenRecovers(
        srv,
        'ordersPerProfile',
        () => newOrder(late, dns(uniqueName('rl-prof')), { profile: 'mtls' }),
        () => newOrder(late, dns(uniqueName('rl-prof')), { profile: 'mtls' }),
        201,
      );
    } finally {
      await srv.close();
    }
  });
});
