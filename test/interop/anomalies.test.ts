/**
 * Interop: anomaly detection on a running server (README "Operations": `--anomaly-interval`,
 * `--anomaly-config`). With a 1 s scan and small thresholds:
 * - normal renewal traffic — a certificate renewed with `replaces` (RFC 9773 §5) once its ARI
 *   window has opened — reports nothing, in the admin API, the metric and the log;
 * - a burst of failed validations (an account whose http-01 answers are wrong, N times for one
 *   name) is reported per account and per name;
 * - a certificate left to expire without renewal (newOrder `notAfter` a few seconds ahead) is
 *   reported as a missed renewal;
 * - a renewal long before the ARI window opens is reported as an early renewal.
 * Each finding must appear in `GET /admin/anomalies` (auditor token) with the right account and
 * names and a hint, in `anvil_anomalies{kind}`, and in the log as `"event":"anomaly"`.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ariCertId, getRenewalInfo, suggestedWindow } from '../helpers/ari-cert-id.js';
import { answerHttp01, dns, http01Of, makeCsr, newOrder, poll, pollSettled, postAsGet, uniqueName } from '../helpers/acme-flow.js';
import { adminCall, createAdminToken } from '../helpers/admin-http.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { scrapeMetrics, total } from '../helpers/prometheus.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { freePort, readText, removeDir, startAnvil, tempDir, type AcmeServer } from './harness.js';

const FAILURES = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Finding {
  kind: string;
  accounts: string[];
  names: string[];
  detail: string;
  hint: string;
  count?: number;
}

const accountIdOf = (acme: RawAcme): string => acme.kid!.split('/').pop()!;

describe('anomaly detection: findings in the admin API, the metric and the log; none for normal renewals', { timeout: 90_000 }, () => {
  let work = '';
  let dnsServer: TestDnsServer | undefined;
  let responder: Http01Responder | undefined;
  let server: AcmeServer | undefined;
  let adminUrl = '';
  let rootPem = '';
  let auditorToken = '';
  /** The normal renewer's account and name: never to appear in any finding. */
  const normal = { account: '', name: '' };

  before(async () => {
    work = await tempDir('anvil-interop-anomalies-');
    const config = path.join(work, 'anomalies.yaml');
    await writeFile(
      config,
      [
        'failedValidationWindow: 10m',
        `failedValidationsPerAccount: ${FAILURES}`,
        `failedValidationsPerName: ${FAILURES}`,
        'missedRenewalLookback: 1h',
        'earlyRenewalLookback: 1h',
        'earlyRenewalFraction: 0.5',
        '',
      ].join('\n'),
    );
    dnsServer = await startDnsServer();
    responder = await startHttp01Responder(await freePort());
    const adminPort = await freePort();
    server = await startAnvil({
      dnsResolver: dnsServer.resolver,
      http01Port: responder.port,
      dataDir: path.join(work, 'data'),
      env: { ANVIL_ADMIN_LISTEN: `127.0.0.1:${adminPort}` },
      extraArgs: ['--anomaly-interval', '1s', '--anomaly-config', config, '--validation-timeout', '5s'],
    });
    adminUrl = `http://127.0.0.1:${adminPort}`;
    rootPem = await readText(server.rootPemPath);
    auditorToken = (await createAdminToken(server.dataDir, 'auditor', 'anomaly-watcher')).token;
  });

  after(async () => {
    await server?.stop();
    await responder?.close();
    await dnsServer?.close();
    await removeDir(work);
  });

  async function account(): Promise<RawAcme> {
    const acme = await new RawAcme(server!.directoryUrl, rootPem).init();
    assert.equal((await acme.register()).status, 201);
    return acme;
  }

  /** newOrder with extra fields (notBefore/notAfter/replaces), http-01 for pending authorizations, finalize, download. */
  async function issueWith(acme: RawAcme, name: string, extra: Record<string, unknown>): Promise<string> {
    const created = await newOrder(acme, dns(name), extra);
    assert.equal(created.status, 201, `newOrder ${JSON.stringify(extra)}: ${created.body}`);
    const url = String(created.headers.location);
    for (const authzUrl of created.json.authorizations as string[]) {
      if ((await postAsGet(acme, authzUrl)).json.status === 'valid') continue;
      await answerHttp01(acme, responder!, authzUrl);
      assert.equal((await pollSettled(acme, authzUrl)).json.status, 'valid');
    }
    const ready = await poll(acme, url, (b) => b.status !== 'pending');
    assert.equal(ready.json.status, 'ready', ready.body);
    const finalized = await acme.post(ready.json.finalize, { csr: (await makeCsr([name])).csr });
    assert.equal(finalized.status, 200, finalized.body);
    const valid = await poll(acme, url, (b) => b.status !== 'processing' && b.status !== 'ready');
    assert.equal(valid.json.status, 'valid', valid.body);
    const cert = await postAsGet(acme, valid.json.certificate);
    assert.equal(cert.status, 200, cert.body);
    return cert.body;
  }

  async function findings(): Promise<Finding[]> {
    const res = await adminCall(adminUrl, auditorToken, 'GET', '/admin/anomalies');
    assert.equal(res.status, 200, `GET /admin/anomalies: ${res.status} ${res.body}`);
    assert.ok(Array.isArray(res.json), res.body);
    return res.json;
  }

  /** Polls the admin API until `match` finds a finding (bounded); returns it. */
  async function waitFinding(what: string, match: (f: Finding) => boolean, timeoutMs = 10_000): Promise<Finding> {
    const deadline = Date.now() + timeoutMs;
    let last: Finding[] = [];
    while (Date.now() < deadline) {
      last = await findings();
      const hit = last.find(match);
      if (hit) return hit;
      await sleep(250);
    }
    assert.fail(`no ${what} finding within ${timeoutMs} ms; findings: ${JSON.stringify(last, null, 2)}`);
  }

  /** The structured log events the detector wrote. */
  function loggedAnomalies(): Record<string, any>[] {
    return server!
      .logs()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, any>)
      .filter((e) => e.event === 'anomaly');
  }

  async function anomalyGauge(kind: string): Promise<number> {
    return total(await scrapeMetrics(adminUrl), 'anvil_anomalies', { kind });
  }

  it('a renewal inside the ARI window (with replaces) reports nothing: empty findings, zero gauges, no anomaly log event', async () => {
    const acme = await account();
    normal.account = accountIdOf(acme);
    normal.name = uniqueName('anomaly-normal');
    // A 3-minute certificate backdated so its ARI window (2/3–3/4 of the lifetime) opens a few seconds from now.
    const notBefore = new Date(Date.now() - 115_000);
    const notAfter = new Date(notBefore.getTime() + 180_000);
    const first = await issueWith(acme, normal.name, { notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString() });
    const window = suggestedWindow(await getRenewalInfo(String(acme.directory.renewalInfo), ariCertId(first), rootPem));
    const wait = window.start.getTime() - Date.now() + 250;
    assert.ok(wait < 15_000 && window.end.getTime() > Date.now() + wait + 3_000, `the ARI window opens soon and stays open: ${JSON.stringify(window)}`);
    await sleep(Math.max(0, wait));
    await issueWith(acme, normal.name, { replaces: ariCertId(first) });
    await sleep(3_000); // at least two scans at --anomaly-interval 1s
    assert.deepEqual(await findings(), [], 'normal renewal traffic reports nothing');
    const metrics = await scrapeMetrics(adminUrl);
    assert.equal(total(metrics, 'anvil_anomalies'), 0, 'every anvil_anomalies gauge is 0');
    assert.deepEqual(loggedAnomalies(), [], 'no "event":"anomaly" in the log');
  });

  it(`${FAILURES} failed http-01 validations of one name by one account: a failed-validation-burst per account and per name`, async () => {
    const acme = await account();
    const accountId = accountIdOf(acme);
    const name = uniqueName('anomaly-fail');
    for (let i = 0; i < FAILURES; i++) {
      const created = await newOrder(acme, dns(name));
      assert.equal(created.status, 201, created.body);
      const authzUrl = String(created.json.authorizations[0]);
      const challenge = http01Of((await postAsGet(acme, authzUrl)).json);
      responder!.set(challenge.token, 'not the key authorization');
      assert.equal((await acme.post(challenge.url, {})).status, 200);
      assert.equal((await pollSettled(acme, authzUrl)).json.status, 'invalid');
    }
    const byAccount = await waitFinding('per-account burst', (f) => f.kind === 'failed-validation-burst' && f.accounts.includes(accountId) && f.names.length === 0);
    assert.deepEqual(byAccount.accounts, [accountId]);
    assert.equal(byAccount.count, FAILURES, JSON.stringify(byAccount));
    assert.ok(byAccount.hint.length > 10, `a remediation hint: ${JSON.stringify(byAccount)}`);
    const byName = await waitFinding('per-name burst', (f) => f.kind === 'failed-validation-burst' && f.names.includes(name));
    assert.deepEqual(byName.names, [name]);
    assert.deepEqual(byName.accounts, [accountId]);
    assert.equal(byName.count, FAILURES, JSON.stringify(byName));
    assert.ok(byName.hint.length > 10, `a remediation hint: ${JSON.stringify(byName)}`);

    assert.equal(await anomalyGauge('failed-validation-burst'), 2, 'anvil_anomalies{kind="failed-validation-burst"}');
    const logged = loggedAnomalies().filter((e) => e.kind === 'failed-validation-burst');
    assert.ok(logged.some((e) => JSON.stringify(e.accounts) === JSON.stringify([accountId]) && e.hint), `logged per account: ${JSON.stringify(logged)}`);
    assert.ok(logged.some((e) => JSON.stringify(e.names) === JSON.stringify([name]) && e.hint), `logged per name: ${JSON.stringify(logged)}`);
  });

  it('a certificate left to expire without renewal (notAfter a few seconds ahead) is a missed-renewal', async () => {
    const acme = await account();
    const accountId = accountIdOf(acme);
    const name = uniqueName('anomaly-missed');
    const notAfter = new Date(Date.now() + 6_000);
    await issueWith(acme, name, { notAfter: notAfter.toISOString() });
    await sleep(Math.max(0, notAfter.getTime() - Date.now()));
    const missed = await waitFinding('missed-renewal', (f) => f.kind === 'missed-renewal' && f.names.includes(name), 10_000);
    assert.deepEqual(missed.accounts, [accountId]);
    assert.deepEqual(missed.names, [name]);
    assert.ok(missed.hint.length > 10, `a remediation hint: ${JSON.stringify(missed)}`);
    assert.equal(await anomalyGauge('missed-renewal'), 1, 'anvil_anomalies{kind="missed-renewal"}');
    const logged = loggedAnomalies().filter((e) => e.kind === 'missed-renewal');
    assert.ok(logged.some((e) => JSON.stringify(e.names) === JSON.stringify([name]) && JSON.stringify(e.accounts) === JSON.stringify([accountId]) && e.hint), `logged: ${JSON.stringify(logged)}`);
  });

  it('a renewal long before the ARI window is an early-renewal; the normal renewer still appears in no finding', async () => {
    const acme = await account();
    const accountId = accountIdOf(acme);
    const name = uniqueName('anomaly-early');
    const first = await issueWith(acme, name, {});
    await issueWith(acme, name, { replaces: ariCertId(first) });
    const early = await waitFinding('early-renewal', (f) => f.kind === 'early-renewal' && f.names.includes(name));
    assert.deepEqual(early.accounts, [accountId]);
    assert.ok(early.hint.length > 10, JSON.stringify(early));
    assert.equal(await anomalyGauge('early-renewal'), 1, 'anvil_anomalies{kind="early-renewal"}');
    assert.ok(loggedAnomalies().some((e) => e.kind === 'early-renewal' && e.names?.includes(name)), 'logged');

    const mentionsNormal = (await findings()).filter((f) => f.accounts.includes(normal.account) || f.names.includes(normal.name));
    assert.deepEqual(mentionsNormal, [], 'the renewal inside its ARI window is never a finding');
  });
});
