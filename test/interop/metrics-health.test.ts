/**
 * Interop: Prometheus metrics, liveness and readiness of a running Anvil process (README
 * "Operations"). acme-client issues N certificates and revokes one, a raw client fails one http-01
 * validation and replays a nonce (RFC 8555 §6.5: badNonce), and a relying party sends OCSP
 * requests (RFC 6960) to the revocation listener; /metrics is scraped before and after and every
 * counter must have moved by exactly what was done. /readyz must be 200 while healthy, 503 naming
 * the `store` check while the store file is unreadable (chmod 000; the server runs as whoever runs
 * the tests, root included, so the check must look at the mode) and 200 again once it is restored,
 * while /healthz stays 200 throughout.
 */
import assert from 'node:assert/strict';
import { chmodSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { acmeClientKit, type AcmeClientKit } from '../helpers/acme-client-kit.js';
import { ACME_ERROR } from '../helpers/acme-assert.js';
import { http01Of, newOrder, pemBlocks, pollSettled, postAsGet, uniqueName, dns } from '../helpers/acme-flow.js';
import { plainRequest, readyz, waitReadyz } from '../helpers/admin-http.js';
import { readManifestView } from '../helpers/data-dir-scan.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { certIdOf, ocspRequest, parseOcspResponse } from '../helpers/ocsp-wire.js';
import { delta, linesOf, scrapeMetrics, series, total, type Scrape } from '../helpers/prometheus.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { ocspPost, revocationUrlsOf } from '../helpers/revocation-http.js';
import { freePort, readText, startAnvil, type AcmeServer } from './harness.js';

/** Certificates acme-client issues (one revoked); one more order fails its validation. */
const ISSUED = 3;
const OCSP_REQUESTS = 3;
const CRL_SHARDS = 2;

describe('metrics, /healthz and /readyz of a running server', { timeout: 90_000 }, () => {
  let dnsServer: TestDnsServer | undefined;
  let responder: Http01Responder | undefined;
  let server: AcmeServer | undefined;
  let adminUrl = '';
  let rootPem = '';

  before(async () => {
    dnsServer = await startDnsServer();
    responder = await startHttp01Responder(await freePort());
    const adminPort = await freePort();
    const revocationPort = await freePort();
    server = await startAnvil({
      dnsResolver: dnsServer.resolver,
      http01Port: responder.port,
      env: { ANVIL_ADMIN_LISTEN: `127.0.0.1:${adminPort}` },
      extraArgs: ['--revocation-listen', `127.0.0.1:${revocationPort}`, '--crl-shards', String(CRL_SHARDS), '--validation-timeout', '5s'],
    });
    adminUrl = `http://127.0.0.1:${adminPort}`;
    rootPem = await readText(server.rootPemPath);
  });

  after(async () => {
    await server?.stop();
    await responder?.close();
    await dnsServer?.close();
  });

  it('/healthz is 200 and /readyz is 200 with every check ok while the server is healthy', async () => {
    const health = await plainRequest(`${adminUrl}/healthz`);
    assert.equal(health.status, 200, health.body);
    const ready = await waitReadyz(adminUrl, 200, 10_000);
    assert.equal(ready.status, 200, `readyz: ${ready.raw}`);
    assert.equal(ready.body?.status, 'ready', ready.raw);
    const names = ready.body!.checks.map((c) => c.name);
    for (const wanted of ['store', 'signer', 'ocsp']) assert.ok(names.includes(wanted), `readyz names the ${wanted} check: ${ready.raw}`);
    const issuers = readManifestView(server!.dataDir).issuers.filter((i) => i.status !== 'archived');
    for (const issuer of issuers) assert.ok(names.includes(`crl:${issuer.id}`), `readyz checks the CRL of issuer ${issuer.id}: ${ready.raw}`);
    assert.deepEqual(ready.body!.checks.filter((c) => !c.ok), [], 'no failing check');
  });

  it('after N issuances, a revocation, a failed validation, OCSP requests and a replayed nonce, each counter moved by exactly that much', async () => {
    const before = await scrapeMetrics(adminUrl);
    const issuerId = readManifestView(server!.dataDir).issuers.find((i) => i.status === 'active')!.id;

    // acme-client: one account, ISSUED certificates (one name each), the first revoked as superseded (4).
    const kit: AcmeClientKit = await acmeClientKit(server!.directoryUrl, rootPem, responder!);
    const chains: string[] = [];
    for (let i = 0; i < ISSUED; i++) {
      const name = uniqueName('metrics');
      chains.push((await kit.issue({ names: [name], keyType: 'ecdsa-p256' })).chain);
    }
    await kit.client.revokeCertificate(chains[0]!, { reason: 4 });
    assert.deepEqual(kit.problems.filter((p) => p.url.startsWith(server!.baseUrl)), [], `acme-client met no problem documents\n${kit.context()}`);

    // One order whose http-01 answer is wrong: one failed validation.
    const raw = await new RawAcme(server!.directoryUrl, rootPem).init();
    assert.equal((await raw.register()).status, 201);
    const failing = await newOrder(raw, dns(uniqueName('metrics-fail')));
    assert.equal(failing.status, 201, failing.body);
    const authzUrl = String(failing.json.authorizations[0]);
    const challenge = http01Of((await postAsGet(raw, authzUrl)).json);
    responder!.set(challenge.token, `${challenge.token}.not-the-account-thumbprint`);
    assert.equal((await raw.post(challenge.url, {})).status, 200);
    const settled = await pollSettled(raw, authzUrl);
    assert.equal(settled.json.status, 'invalid', `the authorization fails: ${settled.body}`);

    // A replayed nonce: the same signed request twice; the second is badNonce (§6.5, §7.1 "MUST NOT be reused").
    const jws = JSON.stringify(await raw.sign(raw.kid!, undefined));
    const first = await raw.postRaw(raw.kid!, jws);
    assert.equal(first.status, 200, `POST-as-GET of the account: ${first.body}`);
    const replay = await raw.postRaw(raw.kid!, jws);
    assert.equal(replay.status, 400, replay.body);
    assert.equal(replay.json?.type, `${ACME_ERROR}badNonce`, replay.body);

    // OCSP: a relying party asks about the second certificate (good) at the URL the certificate names.
    const [leafPem, intermediatePem] = pemBlocks(chains[1]!);
    const request = ocspRequest([certIdOf(leafPem!, intermediatePem!)]);
    for (let i = 0; i < OCSP_REQUESTS; i++) {
      const res = await ocspPost(revocationUrlsOf(leafPem!).ocsp, request);
      assert.equal(res.status, 200);
      assert.equal(parseOcspResponse(res.body).basic?.singles[0]?.status, 'good');
    }

    const after = await scrapeMetrics(adminUrl);
    const expectations: [string, Record<string, string>, number][] = [
      ['anvil_orders_created_total', {}, ISSUED + 1],
      ['anvil_orders_created_total', { profile: 'default' }, ISSUED + 1],
      ['anvil_certificates_issued_total', {}, ISSUED],
      ['anvil_certificates_issued_total', { profile: 'default', issuer: issuerId }, ISSUED],
      ['anvil_validations_total', { type: 'http-01', result: 'valid' }, ISSUED],
      ['anvil_validations_total', { type: 'http-01', result: 'invalid' }, 1],
      ['anvil_validations_total', {}, ISSUED + 1],
      ['anvil_orders_final_total', { status: 'valid' }, ISSUED],
      ['anvil_orders_final_total', { status: 'invalid' }, 1],
      ['anvil_authorizations_final_total', { status: 'valid' }, ISSUED],
      ['anvil_authorizations_final_total', { status: 'invalid' }, 1],
      ['anvil_certificates_revoked_total', {}, 1],
      ['anvil_certificates_revoked_total', { reason: '4' }, 1],
      ['anvil_ocsp_requests_total', {}, OCSP_REQUESTS],
      ['anvil_ocsp_requests_total', { method: 'POST' }, OCSP_REQUESTS],
      ['anvil_nonce_rejections_total', {}, 1],
      ['anvil_problems_total', { type: 'badNonce' }, 1],
      ['anvil_issuance_seconds_count', {}, ISSUED],
      ['anvil_issuance_seconds_count', { profile: 'default' }, ISSUED],
      // 24 h default-profile certificates all expire within 24 h; the revoked one no longer counts.
      ['anvil_certificates_expiring', { within: '24h' }, ISSUED - 1],
    ];
    const wrong = expectations
      .map(([name, labels, want]) => ({ name, labels, want, got: delta(before, after, name, labels) }))
      .filter((e) => e.got !== e.want);
    assert.deepEqual(
      wrong,
      [],
      `counters that moved by the wrong amount:\n${wrong.map((w) => `${w.name}${JSON.stringify(w.labels)}: moved ${w.got}, expected ${w.want}\n  before: ${linesOf(before, w.name)}\n  after:  ${linesOf(after, w.name)}`).join('\n')}`,
    );
  });

  it('store and signer latency histograms, CRL ages per issuer and shard, and process metrics are exported', async () => {
    const m: Scrape = await scrapeMetrics(adminUrl);
    assert.ok(series(m, 'anvil_store_seconds_count').length > 0, 'anvil_store_seconds has series');
    for (const method of ['createOrder', 'completeFinalize', 'revokeCertificate']) {
      assert.ok(total(m, 'anvil_store_seconds_count', { method }) >= 1, `anvil_store_seconds{method="${method}"} counted:\n${linesOf(m, 'anvil_store_seconds_count')}`);
    }
    assert.ok(series(m, 'anvil_store_seconds_bucket', { le: '+Inf' }).length > 0, 'anvil_store_seconds is a histogram with buckets');
    assert.ok(total(m, 'anvil_signer_seconds_count', { kind: 'file' }) >= ISSUED, `anvil_signer_seconds{kind="file"} counted every issuance:\n${linesOf(m, 'anvil_signer_seconds')}`);
    assert.ok(series(m, 'anvil_signer_seconds_bucket', { le: '+Inf' }).length > 0, 'anvil_signer_seconds is a histogram with buckets');
    const issuers = readManifestView(server!.dataDir).issuers.filter((i) => i.status !== 'archived');
    assert.ok(issuers.length >= 1);
    for (const issuer of issuers) {
      for (const shard of ['full', ...Array.from({ length: CRL_SHARDS }, (_, i) => String(i))]) {
        const age = series(m, 'anvil_crl_age_seconds', { issuer: issuer.id, shard });
        assert.equal(age.length, 1, `anvil_crl_age_seconds{issuer="${issuer.id}",shard="${shard}"}:\n${linesOf(m, 'anvil_crl_age_seconds')}`);
        assert.ok(age[0]!.value >= 0 && age[0]!.value < 24 * 3600, `a current CRL's age: ${age[0]!.value}`);
      }
    }
    // prom-client's default process metrics under the `anvil_` prefix.
    const processMetrics = m.samples.filter((s) => s.name === 'anvil_process_resident_memory_bytes');
    assert.equal(processMetrics.length, 1, `a process resident-memory gauge anvil_process_resident_memory_bytes:\n${linesOf(m, 'anvil_process_')}`);
  });

  it('/readyz goes 503 naming the store check while the store file is unreadable, /healthz stays 200, and it recovers when restored', async () => {
    const dbPath = path.join(server!.dataDir, 'anvil.db');
    const mode = statSync(dbPath).mode & 0o777;
    chmodSync(dbPath, 0o000);
    try {
      const down = await waitReadyz(adminUrl, 503, 10_000);
      assert.equal(down.status, 503, `readyz with the store file at mode 000: ${down.raw}`);
      assert.equal(down.body?.status, 'unready', down.raw);
      const failing = down.body!.checks.filter((c) => !c.ok);
      assert.deepEqual(failing.map((c) => c.name), ['store'], `exactly the store check fails: ${down.raw}`);
      assert.match(failing[0]!.detail ?? '', /anvil\.db/, `the detail names the store file: ${down.raw}`);
      const health = await plainRequest(`${adminUrl}/healthz`);
      assert.equal(health.status, 200, `healthz stays 200: ${health.body}`);
    } finally {
      chmodSync(dbPath, mode);
    }
    const up = await waitReadyz(adminUrl, 200, 10_000);
    assert.equal(up.status, 200, `readyz after restoring mode ${mode.toString(8)}: ${up.raw}`);
    assert.equal((await readyz(adminUrl)).body?.status, 'ready');
    assert.equal((await plainRequest(`${adminUrl}/healthz`)).status, 200);
  });
});
