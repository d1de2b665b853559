import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { verifyAuditChain } from '../../src/store/audit-chain.js';
import { StoreUnavailableError } from '../../src/store/errors.js';
import { PgContext } from '../../src/store/postgres/context.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SCHEMA_VERSION } from '../../src/store/postgres/migrations.js';
import { describeCoordinationContract } from '../contract/coordination-contract.js';
import { describeDashboardContract } from '../contract/dashboard-contract.js';
import { describeFleetContract } from '../contract/fleet-contract.js';
import { describeStoreContract } from '../contract/store-contract.js';
import { postgresUnavailable, startPostgresCluster, type PostgresCluster } from '../helpers/postgres.js';

it('with CI=true a missing PostgreSQL server fails the run; otherwise its tests skip with the reason', () => {
  const saved = { bin: process.env.ANVIL_PG_BIN, ci: process.env.CI };
  try {
    process.env.ANVIL_PG_BIN = '/nonexistent/postgresql/bin';
    process.env.CI = 'true';
    assert.throws(() => postgresUnavailable(), /PostgreSQL server binaries not found.*CI=true/);
    process.env.CI = 'false';
    assert.match(postgresUnavailable() ?? '', /apt-get install postgresql/);
  } finally {
    for (const [k, v] of [['ANVIL_PG_BIN', saved.bin], ['CI', saved.ci]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

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
  describeDashboardContract('postgres', openFresh);
  // Two pools on one database: two instances sharing the store.
  describeCoordinationContract('postgres (two stores on one database)', async () => {
    const url = await (await shared()).createDatabase();
    const auditKey = new Uint8Array(randomBytes(32));
    const a = await PostgresStore.open(url, { auditKey, maxConnections: 4 });
    const b = await PostgresStore.open(url, { auditKey, maxConnections: 4 });
    return { a, b, dispose: async () => void (await Promise.all([a.close(), b.close()])) };
  });

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
          assert.deepEqual(rows.map((r) => [r.version, Number(r.n)]), Array.from({ length: SCHEMA_VERSION }, (_, i) => [i + 1, 1]), 'one record per version');
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

    it('two stores taking over lapsed claims at once claim disjoint sets, and one of many racing takers gets a free lease', async () => {
      const url = await (await shared()).createDatabase();
      const auditKey = new Uint8Array(randomBytes(32));
      const a = await PostgresStore.open(url, { auditKey, maxConnections: 4 });
      const b = await PostgresStore.open(url, { auditKey, maxConnections: 4 });
      try {
        const account = await a.createAccount({ jwk: { kty: 'EC' }, thumbprint: 'claims', contact: [], termsOfServiceAgreed: true });
        const started: string[] = [];
        for (let i = 0; i < 20; i++) {
          const o = await a.createOrder({
            accountId: account.id, identifiers: [{ type: 'dns', value: `c${i}.test` }], profile: 'default', notBefore: null, notAfter: null,
            expiresAt: new Date(Date.now() + 3_600_000), replaces: null, reusedAuthzIds: [],
            newAuthzs: [{ identifier: { type: 'dns', value: `c${i}.test` }, wildcard: false, status: 'pending', expiresAt: new Date(Date.now() + 3_600_000), challenges: [{ type: 'http-01', token: `t${i}` }] }],
          });
          const ch = (await a.getAuthz(o.authorizations[0]!.id))!.challenges[0]!;
          assert.equal(await a.startChallenge(ch.id, new Date()), true);
          started.push(ch.id);
        }
        // As if two minutes passed: the validations' own claims (a minute) have lapsed; a claim
        // taken over now lasts ten minutes, so no taker can take it from another.
        const lapsed = new Date(Date.now() + 2 * 60_000);
        const claims = await Promise.all([a, b, a, b].map((s) => s.claimStaleChallenges(lapsed, 10 * 60_000, 7)));
        assert.ok(claims.every((c) => c.length <= 7), `each batch within its limit: ${claims.map((c) => c.length)}`);
        const all = claims.flat();
        assert.equal(new Set(all).size, all.length, 'no challenge claimed twice');
        const rest = await a.claimStaleChallenges(lapsed, 10 * 60_000, 100);
        assert.deepEqual(new Set([...all, ...rest]), new Set(started), 'every lapsed claim taken over once');
        assert.equal(all.length + rest.length, 20);

        const task = `race-${randomBytes(4).toString('hex')}`;
        const fences = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).acquireLease(task, `holder-${i}`, 60_000)));
        assert.equal(fences.filter((f) => f !== null).length, 1, `one holder: ${fences}`);
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

    it('a connection lost in the middle of a transaction fails that call and leaves the process and the pool serving', async () => {
      const { store, url, dispose } = await openFresh();
      const ctx = new PgContext(url, { auditKey: new Uint8Array(32), maxConnections: 2 });
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        const inFlight = ctx.transaction(async (tx) => {
          await tx.run('SELECT 1');
          // The server ends this backend while the transaction holds its connection.
          await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'anvil' AND pid != pg_backend_pid() AND state = 'idle in transaction'");
          await new Promise((r) => setTimeout(r, 200));
          await tx.run('SELECT 2');
        });
        await assert.rejects(inFlight, StoreUnavailableError);
        assert.deepEqual(await ctx.transaction((tx) => tx.rows('SELECT 3 AS n')), [{ n: 3 }], 'the pool opens a new connection');
        await store.ping();
      } finally {
        await admin.end();
        await ctx.close();
        await dispose();
      }
    });

    it('certificates stored without their indexed form are moved by bounded back-fill batches: names, renewal links, shared chain, counters, OCSP due work', async () => {
      const { store, url, dispose } = await openFresh();
      const raw = new pg.Client({ connectionString: url });
      await raw.connect();
      try {
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
        // Rewind the rows to what a store written before names, chains, counters and due work were kept holds.
        await raw.query(`UPDATE certificates SET chain_id = NULL, chain_pem = 'CHAIN-PEM', successor_id = NULL, predecessor_id = NULL;
          DELETE FROM certificate_names; DELETE FROM certificate_chains; DELETE FROM counters; DELETE FROM ocsp_pending;`);
        assert.equal((await store.getCertificate(issued[0]!.id))?.chainPem, 'CHAIN-PEM', 'a row not yet moved still reads its own chain');
        const batches = [];
        for (let n = await store.backfillCertificates(2, new Date()); n > 0; n = await store.backfillCertificates(2, new Date())) batches.push(n);
        assert.deepEqual(batches, [2, 2, 1], 'five rows in batches of at most two');
        const count = async (q: string) => Number((await raw.query<{ n: string }>(q)).rows[0]!.n);
        assert.equal(await count('SELECT COUNT(*) AS n FROM certificate_chains'), 1, 'one stored chain');
        assert.equal(await count("SELECT COUNT(*) AS n FROM certificates WHERE chain_pem != ''"), 0);
        assert.equal(await count('SELECT COUNT(*) AS n FROM certificates WHERE successor_id IS NULL'), 1, 'only the newest has no successor');
        assert.equal(await count('SELECT COUNT(*) AS n FROM ocsp_pending'), 5, 'live certificates without an answer are due');
        assert.equal((await store.getCertificate(issued[4]!.id))?.chainPem, 'CHAIN-PEM');
        const missed = await store.findExpiredWithoutSuccessor(new Date(), new Date(Date.now() + 3 * 3_600_000), 10);
        assert.deepEqual(missed.map((c) => c.id), [issued[4]!.id]);
        assert.equal(await store.countExpiringCertificates(new Date(), new Date(Date.now() + 86_400_000)), 5);
      } finally {
        await raw.end();
        await dispose();
      }
    });
  });
}
