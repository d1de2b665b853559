/**
 * Interop: `anvil serve --workers 2`: two serving processes on one listener and one SQLite file.
 * Every nonce handed out by either worker is accepted once by whichever worker gets the request
 * and refused the second time; both workers serve (both use CPU); acme-client issues through
 * them; the admin address sums the workers' metrics; a killed worker is replaced.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { acmeClientKit } from '../helpers/acme-client-kit.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { scrapeMetrics, total } from '../helpers/prometheus.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { freePort, waitFor, type AcmeServer } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const workersOf = (pid: number): number[] =>
  execFileSync('pgrep', ['-P', String(pid)]).toString().trim().split('\n').filter(Boolean).map(Number);
const cpuMsOf = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
};

describe('--workers 2: two processes serve one listener and one store', { timeout: 180_000 }, () => {
  let stack: InteropStack;
  let server: AcmeServer;
  let rootPem = '';
  let responder: Http01Responder;
  let adminUrl = '';

  before(async () => {
    stack = await openStack('anvil-interop-workers-');
    responder = await startHttp01Responder(stack.http01Port);
    stack.onClose(() => responder.close());
    const adminPort = await freePort();
    adminUrl = `http://127.0.0.1:${adminPort}`;
    ({ server, rootPem } = await stack.start({ extraArgs: ['--workers', '2'], env: { ANVIL_ADMIN_LISTEN: `127.0.0.1:${adminPort}` }, readyTimeoutMs: 60_000 }));
    // The directory answers once the first worker serves; the primary is ready once both are.
    await waitFor('both workers serving', () => /anvil workers are serving/.test(server.logs()), 30_000);
  });
  after(async () => stack.close());

  it('runs two worker processes under the serving process', () => {
    assert.equal(workersOf(server.pid).length, 2);
  });

  it('a nonce from either worker is accepted once by whichever worker gets it, and refused the second time', async () => {
    const acme = await new RawAcme(server.directoryUrl, rootPem).init();
    // Each request is a new connection, which the primary hands to the workers in turn.
    for (let i = 0; i < 6; i++) {
      const nonce = await acme.nonce();
      const fresh = await new RawAcme(server.directoryUrl, rootPem).init();
      const first = await fresh.register({ termsOfServiceAgreed: true, contact: [] });
      assert.ok(first.status === 201, `a fresh account with the worker's own nonce: ${first.status}`);
      const used = await new RawAcme(server.directoryUrl, rootPem).init();
      const once = await used.post(used.directory.newAccount, { termsOfServiceAgreed: true }, { useJwk: true, nonce });
      assert.equal(once.status, 201, `nonce ${i} accepted once: ${once.body}`);
      const twice = await used.post(used.directory.newAccount, { onlyReturnExisting: true }, { useJwk: true, nonce });
      assert.equal(twice.status, 400, `nonce ${i} refused the second time: ${twice.body}`);
      assert.equal(twice.json.type, 'urn:ietf:params:acme:error:badNonce');
      assert.ok(twice.headers['replay-nonce'], 'badNonce carries a fresh nonce');
    }
  });

  it('acme-client issues through both workers, each worker uses CPU, and the admin address sums their counters', async () => {
    const workers = workersOf(server.pid);
    const before = workers.map(cpuMsOf);
    const issuedBefore = total(await scrapeMetrics(adminUrl), 'anvil_certificates_issued_total');
    const kit = await acmeClientKit(server.directoryUrl, rootPem, responder);
    for (let i = 0; i < 6; i++) await kit.issue({ names: [`w${i}-${Date.now()}.workers.test`], keyType: 'ecdsa-p256' });
    const used = workers.map((pid, i) => cpuMsOf(pid) - before[i]!);
    for (const [i, ms] of used.entries()) assert.ok(ms > 0, `worker ${workers[i]} used CPU (${ms} ms)`);
    const issuedAfter = total(await scrapeMetrics(adminUrl), 'anvil_certificates_issued_total');
    assert.equal(issuedAfter - issuedBefore, 6, 'anvil_certificates_issued_total summed over both workers');
    const ready = await fetch(`${adminUrl}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
  });

  it('a worker killed with SIGKILL is replaced, and service goes on', async () => {
    const [victim] = workersOf(server.pid);
    process.kill(victim!, 'SIGKILL');
    // Settled: two workers, the victim not among them, on two looks half a second apart.
    const settled = (l: number[]) => l.length === 2 && !l.includes(victim!);
    const deadline = Date.now() + 30_000;
    let now = workersOf(server.pid);
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      const next = workersOf(server.pid);
      if (settled(now) && settled(next) && next.join() === now.join()) break;
      now = next;
    }
    assert.equal(now.length, 2, `two workers again: ${now.join(',')}`);
    assert.ok(!now.includes(victim!));
    const acme = await new RawAcme(server.directoryUrl, rootPem).init();
    assert.equal((await acme.register()).status, 201);
  });
});
