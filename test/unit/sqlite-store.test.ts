import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { verifyAuditChain } from '../../src/store/audit-chain.js';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { describeDashboardContract } from '../contract/dashboard-contract.js';
import { describeStoreContract } from '../contract/store-contract.js';
import { describeFleetContract } from '../contract/fleet-contract.js';
import { describeCoordinationContract } from '../contract/coordination-contract.js';

describeStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'anvil-store-'));
  const auditKey = new Uint8Array(randomBytes(32));
  const store = new SqliteStore(join(dir, 'anvil.db'), { auditKey });
  return {
    store,
    auditKey,
    dispose: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeFleetContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'anvil-store-'));
  const store = new SqliteStore(join(dir, 'anvil.db'), { auditKey: new Uint8Array(randomBytes(32)) });
  return {
    store,
    dispose: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

// Two connections to one file: two processes (workers or instances) sharing the store.
describeCoordinationContract('sqlite (two connections to one file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'anvil-store-'));
  const key = new Uint8Array(randomBytes(32));
  const a = new SqliteStore(join(dir, 'anvil.db'), { auditKey: key });
  const b = new SqliteStore(join(dir, 'anvil.db'), { auditKey: key });
  return {
    a,
    b,
    dispose: async () => {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

it('certificates stored before migration 8 are moved by bounded back-fill batches: names, renewal links, shared chain, counters, OCSP due work', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'anvil-store-'));
  try {
    const path = join(dir, 'anvil.db');
    const store = new SqliteStore(path, { auditKey: new Uint8Array(32) });
    const acct = await store.createAccount({ jwk: { kty: 'EC' }, thumbprint: 'legacy', contact: [], termsOfServiceAgreed: true });
    const issued = [];
    for (let i = 0; i < 5; i++) {
      const o = await store.createOrder({
        accountId: acct.id, identifiers: [{ type: 'dns', value: 'legacy.test' }], profile: 'default', notBefore: null, notAfter: null,
        expiresAt: new Date(Date.now() + 3_600_000), replaces: null, reusedAuthzIds: [],
        newAuthzs: [{ identifier: { type: 'dns', value: 'legacy.test' }, wildcard: false, status: 'valid', expiresAt: new Date(Date.now() + 3_600_000), challenges: [] }],
      });
      const serial = randomBytes(16).toString('hex');
      await store.beginFinalize(o.id, new Uint8Array([1]), serial, 'int-legacy');
      issued.push(await store.completeFinalize(o.id, {
        serial, issuerId: 'int-legacy', accountId: acct.id, orderId: o.id, profile: 'default', profileHash: 'h', identifiers: o.identifiers,
        notBefore: new Date(), notAfter: new Date(Date.now() + 7_200_000), renewalStart: new Date(Date.now() + 3_600_000), renewalEnd: new Date(Date.now() + 4_000_000),
        der: new Uint8Array([1]), chainPem: 'CHAIN-PEM', spkiSha256: randomBytes(32).toString('hex'), crlShard: 0,
      }));
      await new Promise((r) => setTimeout(r, 2));
    }
    await store.close();
    // Rewind the rows to what a store written before migration 8 holds.
    const raw = new Database(path);
    raw.exec(`UPDATE certificates SET chain_id = NULL, chain_pem = 'CHAIN-PEM', successor_id = NULL, predecessor_id = NULL;
      DELETE FROM certificate_names; DELETE FROM certificate_chains; DELETE FROM counters; DELETE FROM ocsp_pending;`);
    raw.close();
    const reopened = new SqliteStore(path, { auditKey: new Uint8Array(32) });
    assert.equal((await reopened.getCertificate(issued[0]!.id))?.chainPem, 'CHAIN-PEM', 'a row not yet moved still reads its own chain');
    const batches = [];
    for (let n = await reopened.backfillCertificates(2, new Date()); n > 0; n = await reopened.backfillCertificates(2, new Date())) batches.push(n);
    assert.deepEqual(batches, [2, 2, 1], 'five rows in batches of at most two');
    const check = new Database(path, { readonly: true });
    assert.equal((check.prepare('SELECT COUNT(*) AS n FROM certificate_chains').get() as { n: number }).n, 1, 'one stored chain');
    assert.equal((check.prepare("SELECT COUNT(*) AS n FROM certificates WHERE chain_pem != ''").get() as { n: number }).n, 0);
    assert.equal((check.prepare('SELECT COUNT(*) AS n FROM certificates WHERE successor_id IS NULL').get() as { n: number }).n, 1, 'only the newest has no successor');
    assert.equal((check.prepare('SELECT COUNT(*) AS n FROM ocsp_pending').get() as { n: number }).n, 5, 'live certificates without an answer are due');
    check.close();
    assert.equal((await reopened.getCertificate(issued[4]!.id))?.chainPem, 'CHAIN-PEM');
    const missed = await reopened.findExpiredWithoutSuccessor(new Date(), new Date(Date.now() + 3 * 3_600_000), 10);
    assert.deepEqual(missed.map((c) => c.id), [issued[4]!.id]);
    assert.equal(await reopened.countExpiringCertificates(new Date(), new Date(Date.now() + 86_400_000)), 5);
    await reopened.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('sqlite store runs in WAL mode with durable commits and reopens an existing database', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'anvil-store-'));
  try {
    const path = join(dir, 'anvil.db');
    const first = new SqliteStore(path, { auditKey: new Uint8Array(32) });
    const a = await first.createAccount({ jwk: { kty: 'EC' }, thumbprint: 't', contact: [], termsOfServiceAgreed: true });
    await first.close();
    const second = new SqliteStore(path, { auditKey: new Uint8Array(32) });
    assert.equal((await second.getAccount(a.id))?.thumbprint, 't');
    await second.close();
    const raw = new Database(path, { readonly: true });
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(raw.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() !== undefined, true);
    assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
    raw.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('two processes appending to one store wait for each other: no "database is locked", and the audit chain verifies', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'anvil-store-'));
  try {
    const path = join(dir, 'anvil.db');
    const auditKey = new Uint8Array(randomBytes(32));
    const store = new SqliteStore(path, { auditKey, durability: 'normal' });
    const writer = fileURLToPath(new URL('../fixtures/store/audit-writer.js', import.meta.url));
    const child = spawn(process.execPath, [writer, path, Buffer.from(auditKey).toString('hex'), '400'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    let mine = 0;
    while (child.exitCode === null && mine < 4000) {
      await store.appendAudit({ actor: 'parent', action: 'test.parent', subject: String(mine++) });
    }
    assert.equal(await exited, 0, `the child's appends all succeeded: ${stderr}`);
    const verdict = await verifyAuditChain(store, auditKey);
    assert.equal(verdict.ok, true, JSON.stringify(verdict));
    assert.equal(verdict.records, mine + 400);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describeDashboardContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'anvil-dash-store-'));
  const store = new SqliteStore(join(dir, 'anvil.db'), { auditKey: new Uint8Array(randomBytes(32)), durability: 'normal' });
  return {
    store,
    dispose: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

it('migration 30 back-fills the dashboard tables from certificates stored before it: names, successors, live and expiring counts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'anvil-dash-backfill-'));
  try {
    const path = join(dir, 'anvil.db');
    const store = new SqliteStore(path, { auditKey: new Uint8Array(32), durability: 'normal' });
    const account = await store.createAccount({ jwk: { kty: 'EC', x: 'backfill' }, thumbprint: 'backfill', contact: [], termsOfServiceAgreed: true });
    const ids: string[] = [];
    for (const [i, name] of ['a.backfill.test', 'b.backfill.test', 'a.backfill.test'].entries()) {
      const order = await store.createOrder({
        accountId: account.id, identifiers: [{ type: 'dns', value: name }], profile: 'default', notBefore: null, notAfter: null,
        expiresAt: new Date(Date.now() + 3_600_000), replaces: null, reusedAuthzIds: [], newAuthzs: [],
      });
      const serial = `0${i}${randomBytes(15).toString('hex')}`;
      await store.beginFinalize(order.id, new Uint8Array([1]), serial, 'int-b');
      const now = Date.now();
      ids.push((await store.completeFinalize(order.id, {
        serial, issuerId: 'int-b', accountId: account.id, orderId: order.id, profile: 'default', profileHash: 'h', identifiers: order.identifiers,
        notBefore: new Date(now), notAfter: new Date(now + 3 * 3_600_000), renewalStart: new Date(now + 3_600_000), renewalEnd: new Date(now + 7_200_000),
        der: new Uint8Array([1]), chainPem: 'chain', spkiSha256: randomBytes(32).toString('hex'), crlShard: 0,
      })).id);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await store.close();
    // Make the database look as if it had never run migration 30, then open it again.
    const raw = new Database(path);
    for (const t of ['dash_certificate_issued', 'dash_certificate_revoked', 'dash_certificate_purged', 'dash_validation_failed', 'dash_ocsp_inserted', 'dash_ocsp_updated']) raw.exec(`DROP TRIGGER ${t}`);
    for (const t of ['dash_cert_names', 'dash_successors', 'dash_hourly', 'dash_expiry', 'dash_ocsp']) raw.exec(`DROP TABLE ${t}`);
    for (const i of ['dash_certificates_by_expiry', 'dash_certificates_by_profile', 'dash_certificates_by_issuer', 'dash_certificates_by_account', 'dash_certificates_revoked', 'dash_accounts_by_creation', 'dash_audit_by_subject', 'dash_audit_by_actor', 'dash_audit_by_action']) raw.exec(`DROP INDEX ${i}`);
    raw.prepare('DELETE FROM schema_migrations WHERE version = 30').run();
    raw.close();
    const reopened = new SqliteStore(path, { auditKey: new Uint8Array(32), durability: 'normal' });
    try {
      assert.deepEqual((await reopened.searchInventory({ name: 'a.backfill.test', limit: 10 })).certificates.map((c) => c.id), [ids[0], ids[2]]);
      assert.equal((await reopened.certificateLinks(ids[0]!)).successor?.id, ids[2]);
      assert.equal((await reopened.certificateLinks(ids[1]!)).successor, null);
      assert.deepEqual(await reopened.expiringSummary(new Date(), new Date(Date.now() + 24 * 3_600_000)), { total: 3, withSuccessor: 1, withoutSuccessor: 2 });
      assert.equal((await reopened.liveCertificateCounts(new Date())).find((c) => c.issuerId === 'int-b')?.live, 3);
      const hours = await reopened.hourlyActivity(new Date(Date.now() - 3_600_000), new Date(Date.now() + 3_600_000));
      assert.equal(hours.reduce((n, h) => n + h.issued, 0), 3);
    } finally {
      await reopened.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
