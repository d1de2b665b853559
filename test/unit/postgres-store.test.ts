import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { verifyAuditChain } from '../../src/store/audit-chain.js';
import { StoreUnavailableError } from '../../src/store/errors.js';
import { PgContext } from '../../src/store/postgres/context.js';
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

    it('compare-and-swap holds across two stores racing on one database: one finalization, one challenge start, one token use, distinct CRL numbers', async () => {
      const url = await (await shared()).createDatabase();
      const auditKey = new Uint8Array(randomBytes(32));
      const a = await PostgresStore.open(url, { auditKey, maxConnections: 4 });
      const b = await PostgresStore.open(url, { auditKey, maxConnections: 4 });
      try {
        const account = await a.createAccount({ jwk: { kty: 'EC' }, thumbprint: 'race', contact: [], termsOfServiceAgreed: true });
        const order = await a.createOrder({
          accountId: account.id, identifiers: [{ type: 'dns', value: 'race.test' }], profile: 'default', notBefore: null, notAfter: null,
          expiresAt: new Date(Date.now() + 3_600_000), replaces: null, reusedAuthzIds: [],
          newAuthzs: [{ identifier: { type: 'dns', value: 'race.test' }, wildcard: false, status: 'pending', expiresAt: new Date(Date.now() + 3_600_000),
            challenges: [{ type: 'http-01', token: 't1' }, { type: 'dns-01', token: 't2' }] }],
        });
        const authz = (await a.getAuthz(order.authorizations[0]!.id))!;
        const [c1, c2] = authz.challenges;
        const starts = await Promise.all([a.startChallenge(c1!.id, new Date()), b.startChallenge(c2!.id, new Date()), b.startChallenge(c1!.id, new Date())]);
        assert.equal(starts.filter(Boolean).length, 1, `one challenge of the authorization is processing: ${starts}`);

        const ready = await a.createOrder({
          accountId: account.id, identifiers: [{ type: 'dns', value: 'ready.test' }], profile: 'default', notBefore: null, notAfter: null,
          expiresAt: new Date(Date.now() + 3_600_000), replaces: null, reusedAuthzIds: [],
          newAuthzs: [{ identifier: { type: 'dns', value: 'ready.test' }, wildcard: false, status: 'valid', expiresAt: new Date(Date.now() + 3_600_000), challenges: [] }],
        });
        const begun = await Promise.all([a.beginFinalize(ready.id, new Uint8Array([1]), 'aa01', 'int'), b.beginFinalize(ready.id, new Uint8Array([2]), 'aa02', 'int')]);
        assert.deepEqual(begun.filter(Boolean).length, 1, 'one finalization reserved its serial');

        const uses = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).useTokenOnce('issuer', 'jti-1', new Date(Date.now() + 60_000))));
        assert.equal(uses.filter(Boolean).length, 1, 'a token id is accepted once');

        const numbers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).allocateCrlNumber('int')));
        assert.deepEqual([...numbers].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i + 1), 'every CRL number handed out once');

        const verdict = await verifyAuditChain(a, auditKey);
        assert.equal(verdict.ok, true, JSON.stringify(verdict));
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('a transaction aborted by a deadlock runs again: both transactions commit', async () => {
      const url = await (await shared()).createDatabase();
      const ctx = new PgContext(url, { auditKey: new Uint8Array(32), maxConnections: 4 });
      try {
        await ctx.sql.run('CREATE TABLE pair (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
        await ctx.sql.run('INSERT INTO pair VALUES (1, 0), (2, 0)');
        let attempts = 0;
        // Each holds one row, waits until the other holds its row, then asks for the other's:
        // PostgreSQL aborts one of them with 40P01.
        let held = 0;
        const bothHold = async () => {
          held++;
          for (let i = 0; i < 200 && held < 2; i++) await new Promise((r) => setTimeout(r, 10));
        };
        const crossing = (first: number, second: number) =>
          ctx.transaction(async (tx) => {
            attempts++;
            await tx.run('UPDATE pair SET n = n + 1 WHERE id = $1', [first]);
            await bothHold();
            await tx.run('UPDATE pair SET n = n + 1 WHERE id = $1', [second]);
          });
        await Promise.all([crossing(1, 2), crossing(2, 1)]);
        assert.ok(attempts >= 3, `one transaction ran again (attempts: ${attempts})`);
        assert.deepEqual((await ctx.sql.rows<{ n: number }>('SELECT n FROM pair ORDER BY id')).map((r) => r.n), [2, 2], 'each committed once');
      } finally {
        await ctx.close();
      }
    });

    it('a database outage fails calls with StoreUnavailableError instead of hanging, and the same store serves again once the database is back', async () => {
      const own = await startPostgresCluster();
      try {
        const url = await own.createDatabase();
        const auditKey = new Uint8Array(randomBytes(32));
        const store = await PostgresStore.open(url, { auditKey, maxConnections: 2, connectTimeoutMs: 2_000 });
        try {
          await store.appendAudit({ actor: 'test', action: 'test.before', subject: 'x' });
          await own.stop('immediate');
          await assert.rejects(store.ping(), StoreUnavailableError, 'a read during the outage: unavailable, so the edge answers 503');
          await assert.rejects(store.appendAudit({ actor: 'test', action: 'test.during', subject: 'x' }), StoreUnavailableError);
          await assert.rejects(store.getAccount('x'), StoreUnavailableError);
          await own.start();
          await store.ping();
          await store.appendAudit({ actor: 'test', action: 'test.after', subject: 'x' });
          const records = await store.readAudit(0, 10);
          assert.deepEqual(records.map((r) => r.action), ['test.before', 'test.after'], 'the write during the outage left nothing behind');
          assert.equal((await verifyAuditChain(store, auditKey)).ok, true);
        } finally {
          await store.close();
        }
      } finally {
        await own.destroy();
      }
    });
  });
}
