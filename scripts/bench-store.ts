/**
 * Store benchmark: the store calls of one ACME order (create the order, start and record the
 * validation, read the order, begin and complete finalization, save the first OCSP answer) run
 * by C concurrent clients against the SQLite store (durable group commit) and the PostgreSQL
 * store (a throwaway cluster started from the installed server binaries, fsync off, on loopback),
 * side by side in one run. No HTTP, JWS or signing: what it measures is the store. Each row is
 * bounded by a count of flows and by time.
 *
 * Reported per store and concurrency: flows/s, p50 and p99 latency of one flow, this process's
 * CPU per flow, and audited writes/s (four per flow; on PostgreSQL every audited write of every
 * instance queues on the audit chain's head row).
 *
 *   scripts/bench-store [--concurrency 1,8,32] [--flows 500] [--seconds 10] [--pool 10] [--store sqlite,postgres] [--json]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Store } from '../src/store/store.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { startPostgresCluster, type PostgresCluster } from '../test/helpers/postgres.js';
import { runBenchmark } from './lib/servers.js';

const USAGE = 'usage: scripts/bench-store [--concurrency 1,8,32] [--flows 500] [--seconds 10] [--pool 10] [--store sqlite,postgres] [--json]';
const HOUR = 3_600_000;

/** The store calls the flow makes, which both backends implement. */
type BenchStore = Store;
const AUDITED_PER_FLOW = 4;

interface Row {
  store: string;
  concurrency: number;
  flows: number;
  flowsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuMsPerFlow: number;
  auditedPerSecond: number;
}

/** One order's store calls, as the server makes them. */
async function flow(store: BenchStore, accountId: string): Promise<void> {
  const name = `${randomBytes(6).toString('hex')}.bench.test`;
  const identifiers = [{ type: 'dns', value: name }];
  const order = await store.createOrder({
    accountId, identifiers, profile: 'default', notBefore: null, notAfter: null, expiresAt: new Date(Date.now() + HOUR), replaces: null, reusedAuthzIds: [],
    newAuthzs: [{ identifier: identifiers[0]!, wildcard: false, status: 'pending', expiresAt: new Date(Date.now() + HOUR), challenges: [{ type: 'http-01', token: randomBytes(16).toString('base64url') }] }],
  });
  const authz = (await store.getAuthz(order.authorizations[0]!.id))!;
  const challenge = authz.challenges[0]!;
  if (!(await store.startChallenge(challenge.id, new Date()))) throw new Error('challenge did not start');
  await store.recordValidation(challenge.id, { status: 'valid', error: null, validationRecord: [{ url: `http://${name}/` }], authzExpiresAt: new Date(Date.now() + HOUR) });
  await store.getOrder(order.id);
  const serial = randomBytes(16).toString('hex');
  if (!(await store.beginFinalize(order.id, randomBytes(300), serial, 'int-bench'))) throw new Error('finalize did not begin');
  const now = Date.now();
  const cert = await store.completeFinalize(order.id, {
    serial, issuerId: 'int-bench', accountId, orderId: order.id, profile: 'default', profileHash: 'bench', identifiers,
    notBefore: new Date(now), notAfter: new Date(now + 24 * HOUR), renewalStart: new Date(now + 16 * HOUR), renewalEnd: new Date(now + 20 * HOUR),
    der: randomBytes(600), chainPem: '-----BEGIN CERTIFICATE-----\nbench\n-----END CERTIFICATE-----\n', spkiSha256: randomBytes(32).toString('hex'), crlShard: 1,
  });
  await store.saveOcspResponse(cert.id, { der: randomBytes(400), thisUpdate: new Date(now), nextUpdate: new Date(now + 24 * HOUR), refreshAt: new Date(now + 12 * HOUR) }, false);
}

async function measure(label: string, store: BenchStore, concurrency: number, maxFlows: number, seconds: number): Promise<Row> {
  const account = await store.createAccount({ jwk: { kty: 'EC', x: randomBytes(8).toString('hex') }, thumbprint: randomBytes(16).toString('hex'), contact: [], termsOfServiceAgreed: true });
  for (let i = 0; i < Math.min(concurrency, 5); i++) await flow(store, account.id); // warm-up
  const latencies: number[] = [];
  let started = 0;
  const deadline = performance.now() + seconds * 1000;
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < maxFlows && performance.now() < deadline) {
        started++;
        const t = performance.now();
        await flow(store, account.id);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    store: label,
    concurrency,
    flows: latencies.length,
    flowsPerSecond: latencies.length / elapsed,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    cpuMsPerFlow: (used.user + used.system) / 1000 / latencies.length,
    auditedPerSecond: (latencies.length * AUDITED_PER_FLOW) / elapsed,
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      concurrency: { type: 'string', default: '1,8,32' },
      flows: { type: 'string', default: '500' },
      seconds: { type: 'string', default: '10' },
      pool: { type: 'string', default: '10' },
      store: { type: 'string', default: 'sqlite,postgres' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const levels = values.concurrency.split(',').map(Number);
  const [flows, seconds, pool] = [Number(values.flows), Number(values.seconds), Number(values.pool)];
  const stores = values.store.split(',');
  if (levels.some((c) => !Number.isInteger(c) || c < 1 || c > 256) || !(flows > 0 && flows <= 100_000) || !(seconds > 0 && seconds <= 600) || !(pool >= 1 && pool <= 100)
    || stores.some((s) => s !== 'sqlite' && s !== 'postgres')) {
    console.error(USAGE);
    return 2;
  }
  const dir = mkdtempSync(join(tmpdir(), 'anvil-bench-store-'));
  let cluster: PostgresCluster | undefined;
  const rows: Row[] = [];
  try {
    const opened: { label: string; store: BenchStore }[] = [];
    const auditKey = new Uint8Array(randomBytes(32));
    if (stores.includes('sqlite')) opened.push({ label: 'sqlite', store: new SqliteStore(join(dir, 'anvil.db'), { auditKey }) });
    if (stores.includes('postgres')) {
      cluster = await startPostgresCluster({ durable: true });
      opened.push({ label: `postgres (pool ${pool})`, store: await PostgresStore.open(await cluster.createDatabase(), { auditKey, maxConnections: pool }) });
    }
    for (const c of levels) for (const { label, store } of opened) rows.push(await measure(label, store, c, flows, seconds));
    for (const { store } of opened) await store.close();
  } finally {
    await cluster?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  if (values.json) {
    console.log(JSON.stringify(rows, null, 2));
    return 0;
  }
  console.log('| store | clients | flows | flows/s | p50 / p99 ms | CPU per flow (this process) | audited writes/s |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.store} | ${r.concurrency} | ${r.flows} | ${r.flowsPerSecond.toFixed(1)} | ${r.p50Ms.toFixed(1)} / ${r.p99Ms.toFixed(1)} | ${r.cpuMsPerFlow.toFixed(2)} ms | ${r.auditedPerSecond.toFixed(0)} |`);
  }
  return 0;
}

runBenchmark(main);
