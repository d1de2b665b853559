/**
 * Interop: /readyz and a failing signer (README "Operations": ready only if "the active signer
 * signs"; "CA hierarchy": with the HSM gone, `/readyz` reports it). The active intermediate's key
 * lives on a SoftHSM2 token; under the running server the token directory is taken away, and in a
 * second server the key object is destroyed (C_DestroyObject). Each time /readyz must answer 503
 * naming the `signer` check while /healthz stays 200; when the token directory comes back, /readyz
 * must be 200 again (the breaker's 10 s cooldown plus the 5 s signer probe cache bound the wait).
 */
import assert from 'node:assert/strict';
import { rename } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { plainRequest, waitReadyz } from '../helpers/admin-http.js';
import { readManifestView } from '../helpers/data-dir-scan.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { anvilCli } from '../helpers/eab.js';
import { createSoftHsm, destroyTokenKey, type SoftHsm } from '../helpers/softhsm.js';
import { describeRun, freePort, removeDir, requireTool, startAnvil, tempDir, type AcmeServer } from './harness.js';

const skip = requireTool('softhsm2-util');
/** Signer probe cache (5 s) + breaker cooldown (10 s, README signerTimeout) + polling slack. */
const RECOVERY_BOUND_MS = 20_000;

interface HsmServer {
  work: string;
  hsm: SoftHsm;
  server: AcmeServer;
  adminUrl: string;
  issuer: { id: string; label: string; idHex: string };
}

async function startHsmServer(dnsResolver: string): Promise<HsmServer> {
  const work = await tempDir('anvil-interop-ready-hsm-');
  const hsm = await createSoftHsm(path.join(work, 'hsm'));
  const dataDir = path.join(work, 'data');
  const init = await anvilCli(['init', '--data-dir', dataDir, '--key-store', 'pkcs11', ...hsm.args], hsm.env);
  assert.equal(init.code, 0, `anvil init --key-store pkcs11\n${describeRun(init)}`);
  const entry = readManifestView(dataDir).issuers.find((i) => i.status === 'active');
  assert.ok(entry && entry.key.kind === 'pkcs11' && entry.key.label && entry.key.id, `an active pkcs11 issuer: ${JSON.stringify(entry)}`);
  const adminPort = await freePort();
  const server = await startAnvil({
    dnsResolver,
    http01Port: await freePort(),
    dataDir,
    env: { ...hsm.env, ANVIL_ADMIN_LISTEN: `127.0.0.1:${adminPort}` },
    extraArgs: [...hsm.args, '--signer-timeout', '1s'],
    readyTimeoutMs: 40_000,
  });
  return { work, hsm, server, adminUrl: `http://127.0.0.1:${adminPort}`, issuer: { id: entry.id, label: entry.key.label, idHex: entry.key.id } };
}

async function assertSignerDown(s: HsmServer, what: string): Promise<void> {
  const down = await waitReadyz(s.adminUrl, 503, 10_000);
  assert.equal(down.status, 503, `${what}: readyz must go 503: ${down.raw}`);
  assert.equal(down.body?.status, 'unready', down.raw);
  const failing = down.body!.checks.filter((c) => !c.ok);
  assert.ok(failing.some((c) => c.name === 'signer'), `${what}: the signer check fails: ${down.raw}`);
  assert.match(failing.find((c) => c.name === 'signer')!.detail ?? '', new RegExp(s.issuer.id), `the signer check names the issuer: ${down.raw}`);
  assert.ok(down.body!.checks.find((c) => c.name === 'store')?.ok, `the store is still fine: ${down.raw}`);
  const health = await plainRequest(`${s.adminUrl}/healthz`);
  assert.equal(health.status, 200, `${what}: healthz stays 200: ${health.body}`);
}

describe('/readyz with an HSM-backed intermediate whose token fails under the running server', { skip, timeout: 90_000 }, () => {
  let dnsServer: TestDnsServer | undefined;
  const started: HsmServer[] = [];

  before(async () => {
    dnsServer = await startDnsServer();
  });

  after(async () => {
    for (const s of started) {
      await s.server.stop().catch(() => undefined);
      await removeDir(s.work);
    }
    await dnsServer?.close();
  });

  it('token directory removed: 503 naming the signer, /healthz 200; token directory restored: 200 again', async () => {
    const s = await startHsmServer(dnsServer!.resolver);
    started.push(s);
    const ready = await waitReadyz(s.adminUrl, 200, 20_000);
    assert.equal(ready.status, 200, `healthy at start: ${ready.raw}`);
    assert.match(ready.body!.checks.find((c) => c.name === 'signer')?.detail ?? '', /pkcs11/, `the signer check says which key store: ${ready.raw}`);

    const away = `${s.hsm.tokenDir}.away`;
    await rename(s.hsm.tokenDir, away);
    try {
      await assertSignerDown(s, 'token directory removed');
    } finally {
      await rename(away, s.hsm.tokenDir);
    }
    const back = await waitReadyz(s.adminUrl, 200, RECOVERY_BOUND_MS);
    assert.equal(back.status, 200, `readyz ${back.waitedMs} ms after the token directory was restored (bound ${RECOVERY_BOUND_MS} ms): ${back.raw}\n--- server log (tail) ---\n${s.server.logs().slice(-3000)}`);
  });

  it('key object destroyed on the token (C_DestroyObject): 503 naming the signer, /healthz 200', async () => {
    const s = await startHsmServer(dnsServer!.resolver);
    started.push(s);
    const ready = await waitReadyz(s.adminUrl, 200, 20_000);
    assert.equal(ready.status, 200, `healthy at start: ${ready.raw}`);
    assert.equal(destroyTokenKey(s.hsm, s.issuer.label, s.issuer.idHex), 1, 'one private key object destroyed');
    await assertSignerDown(s, 'key object destroyed');
  });
});
