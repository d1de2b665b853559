/**
 * Crash recovery: Anvil is SIGKILLed while 8 ACME clients drive full orders against it. Every
 * certificate a client received before the kill must still be served, byte for byte, by the
 * restarted server (DESIGN.md: an issued certificate is committed before any client can download
 * it), and the SQLite store must pass `PRAGMA integrity_check` after the crash and after restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { AcmeTransport, PEM_CHAIN, rebaseAccount, rebaseUrl, runLoad, type CertificateInfo } from '../../scripts/lib/acme-load.js';
import { freePort, startAnvil, type AnvilServer } from '../../scripts/lib/servers.js';
import { startDnsServer } from '../helpers/dns-server.js';

const PASSPHRASE = 'crash-recovery-test-passphrase';
/** Kill once both hold (load is well under way), or at KILL_LATEST_MS regardless. */
const KILL_AFTER_MS = 2000;
const KILL_AFTER_CERTIFICATES = 20;
const KILL_LATEST_MS = 8000;

/** `PRAGMA integrity_check` on a read-only connection; 'ok' when the file is sound. */
function integrityCheck(dbPath: string): string {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

test('SIGKILL during load loses no issued certificate and leaves the SQLite store intact', { timeout: 180_000 }, async (t) => {
  const dns = await startDnsServer();
  const http01Port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'anvil-crash-'));
  const dbPath = join(dataDir, 'anvil.db');
  const servers: AnvilServer[] = [];
  t.after(async () => {
    for (const server of servers) await server.stop();
    await dns.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const start = async (): Promise<AnvilServer> => {
    const server = await startAnvil({ dataDir, http01Port, dnsResolver: dns.resolver, passphrase: PASSPHRASE });
    servers.push(server);
    return server;
  };

  // 1. Load, then SIGKILL while 8 clients have orders in flight.
  const first = await start();
  const received: CertificateInfo[] = [];
  const killed = new AbortController();
  let loadStart = 0;
  let killedAtMs = 0;
  let receivedAtKill = 0;
  const kill = (): void => {
    if (killed.signal.aborted) return;
    killedAtMs = performance.now() - loadStart;
    receivedAtKill = received.length;
    first.kill('SIGKILL');
    killed.abort();
  };
  const trigger = setInterval(() => {
    if (loadStart === 0) return;
    const elapsed = performance.now() - loadStart;
    if ((elapsed >= KILL_AFTER_MS && received.length >= KILL_AFTER_CERTIFICATES) || elapsed >= KILL_LATEST_MS) kill();
  }, 20);
  const load = await runLoad({
    directoryUrl: first.directoryUrl,
    caPem: first.caPem,
    concurrency: 8,
    maxOrders: 100_000,
    maxSeconds: 10,
    stallSeconds: 10,
    http01Port,
    namePrefix: 'crash',
    signal: killed.signal,
    onStart: () => (loadStart = performance.now()),
    onCertificate: (info) => received.push(info),
  }).finally(() => {
    clearInterval(trigger);
    kill();
  });
  const exit = await first.exited;
  t.diagnostic(`killed after ${Math.round(killedAtMs)} ms with ${receivedAtKill} certificates received (${received.length} in all), ${load.errors.count} load errors`);
  assert.equal(exit.signal, 'SIGKILL', `Anvil exited by itself before the kill (code ${exit.code}):\n${first.output()}`);
  assert.ok(
    received.length > 0,
    `no certificate was received before the kill, so the test proves nothing; load errors: ${load.errors.first.join(' | ')}\n${first.output()}`,
  );

  // 2. The store survives the crash as it is on disk (a read-only open replays the WAL in memory).
  assert.equal(integrityCheck(dbPath), 'ok', 'integrity_check after SIGKILL');

  // 3. Restart on the same data dir: every received certificate is served unchanged by its account.
  const second = await start();
  assert.equal(second.caPem, first.caPem, 'the restarted server must keep the root in its data dir');
  const acme = await AcmeTransport.open({ directoryUrl: second.directoryUrl, caPem: second.caPem });
  const lost: string[] = [];
  try {
    for (const cert of received) {
      const url = rebaseUrl(cert.certUrl, second.directoryUrl);
      try {
        const res = await acme.postAsGet(rebaseAccount(cert.account, second.directoryUrl), url, { accept: PEM_CHAIN });
        if (res.status !== 200) lost.push(`${url}: HTTP ${res.status}`);
        else if (res.body.toString('utf8') !== cert.pem) lost.push(`${url}: a different PEM than the one received`);
      } catch (error) {
        lost.push(`${url}: ${(error as Error).message}`);
      }
    }
  } finally {
    acme.close();
  }
  assert.deepEqual(lost, [], `${lost.length} of ${received.length} received certificates are not served after restart`);

  // 4. The recovered server still issues.
  const after = await runLoad({
    directoryUrl: second.directoryUrl,
    caPem: second.caPem,
    concurrency: 2,
    maxOrders: 4,
    maxSeconds: 20,
    stallSeconds: 10,
    http01Port,
    namePrefix: 'after-crash',
  });
  assert.equal(after.errors.count, 0, `orders after restart failed: ${after.errors.first.join(' | ')}\n${second.output()}`);
  assert.equal(after.completed, 4);

  // 5. A clean stop leaves a sound store too.
  await second.stop();
  assert.equal(integrityCheck(dbPath), 'ok', 'integrity_check after restart and clean stop');
});
