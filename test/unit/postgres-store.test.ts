import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { verifyAuditChain } from '../../src/store/audit-chain.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SCHEMA_VERSION } from '../../src/store/postgres/migrations.js';
import { describeFleetContract } from '../contract/fleet-contract.js';
import { describeStoreContract } from '../contract/store-contract.js';
import { postgresUnavailable, startPostgresCluster, type PostgresCluster } from '../helpers/postgres.js';

const unavailable = postgresUnavailable();

if (unavailable) {
  it('PostgreSQL store contract', { skip: unavailable }, () => undefined);
} else {
  let cluster: Promise<PostgresCluster> | undefined;
  const shared = () => (cluster ??= startPostgresCluster());
  after(async () => {
    if (cluster) await (await cluster).destroy();
  });

  const openFresh = async () => {
    const url = await (await shared()).createDatabase();
    const auditKey = new Uint8Array(randomBytes(32));
    const store = await PostgresStore.open(url, { auditKey, maxConnections: 4 });
    return { store, auditKey, url, dispose: () => store.close() };
  };

  describeStoreContract('postgres', openFresh);
  describeFleetContract('postgres', openFresh);

  describe('PostgreSQL store', () => {
    it('two stores migrating the same empty database at the same moment both come up, and the migration runs once', async () => {
      const url = await (await shared()).createDatabase();
      const auditKey = new Uint8Array(randomBytes(32));
      const [a, b] = await Promise.all([PostgresStore.open(url, { auditKey }), PostgresStore.open(url, { auditKey })]);
      try {
        assert.deepEqual([...a.appliedMigrations, ...b.appliedMigrations].sort(), Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1), 'each version applied by exactly one');
        const raw = new pg.Client({ connectionString: url });
        await raw.connect();
        try {
          const { rows } = await raw.query<{ version: number; n: string }>('SELECT version, COUNT(*) AS n FROM schema_migrations GROUP BY version ORDER BY version');
          assert.deepEqual(rows.map((r) => [r.version, Number(r.n)]), [[SCHEMA_VERSION, 1]]);
        } finally {
          await raw.end();
        }
        await a.appendAudit({ actor: 'test', action: 'test.a', subject: 'a' });
        await b.appendAudit({ actor: 'test', action: 'test.b', subject: 'b' });
        await a.ping();
        await b.ping();
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('two stores appending to one audit chain at once keep it linear: every record chained, no sequence number twice', async () => {
      const url = await (await shared()).createDatabase();
      const auditKey = new Uint8Array(randomBytes(32));
      const a = await PostgresStore.open(url, { auditKey, maxConnections: 4 });
      const b = await PostgresStore.open(url, { auditKey, maxConnections: 4 });
      try {
        const appends = [];
        for (let i = 0; i < 100; i++) {
          appends.push(a.appendAudit({ actor: 'a', action: 'test.a', subject: String(i) }));
          appends.push(b.appendAudit({ actor: 'b', action: 'test.b', subject: String(i) }));
        }
        await Promise.all(appends);
        const verdict = await verifyAuditChain(a, auditKey);
        assert.equal(verdict.ok, true, JSON.stringify(verdict));
        assert.equal(verdict.records, 200);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('the audit log refuses updates and deletes', async () => {
      const { store, url, dispose } = await openFresh();
      try {
        await store.appendAudit({ actor: 'test', action: 'test.x', subject: 'x' });
        const raw = new pg.Client({ connectionString: url });
        await raw.connect();
        try {
          await assert.rejects(raw.query("UPDATE audit_log SET actor = 'forged'"), /append-only/);
          await assert.rejects(raw.query('DELETE FROM audit_log'), /append-only/);
        } finally {
          await raw.end();
        }
      } finally {
        await dispose();
      }
    });
  });
}
