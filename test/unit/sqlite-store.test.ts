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
