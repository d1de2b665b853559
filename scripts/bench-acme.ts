/**
 * ACME throughput benchmark: Anvil against Pebble, same flow, same DNS server, same http-01 port,
 * one server at a time. For each concurrency it reports orders/s, latency, errors, stalls, and the
 * server's CPU per order and peak RSS from /proc (steadier than rates on a shared machine).
 *
 *   scripts/bench [--concurrency 1,8,32] [--orders 2000] [--seconds 20] [--peer pebble|none]
 *                 [--anvil yes|no] [--warmup 0] [--stall-seconds 5] [--poll-ms 10] [--json]
 *                 [--anvil-node-args "--cpu-prof --cpu-prof-dir=/tmp/prof"]
 *                 [--cpu-profile DIR]  (Anvil runs under --cpu-prof into DIR; a summary of where its
 *                                       CPU went is printed after the table)
 *                 [--store sqlite,postgres] [--instances 1,3] [--workers 1,2]
 *     every combination of store, instances and workers is an Anvil run beside Pebble's. PostgreSQL
 *     is a throwaway cluster this run starts from the installed binaries (a fresh database per run);
 *     more instances share it (SQLite: the one data directory, --extra-instance), client i keeps to
 *     instance i mod n; CPU per order sums every instance and its workers.
 *   scripts/bench --preload 0,1000000 [--store sqlite,postgres] [--concurrency 32] [--seconds 15] [--idle-seconds 75]
 *     the flat-cost run: Anvil alone on stores grown to each size (scripts/lib/store-growth.ts), on
 *     each store given. PostgreSQL clusters started by a benchmark keep fsync on, like a real one.
 */
import { cpus } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runLoad, type PhaseTimes } from './lib/acme-load.js';
import { freePort, runBenchmark, sampleTree, startAnvil, startPebble, type RunningServer } from './lib/servers.js';
import { startDnsServer } from '../test/helpers/dns-server.js';
import { startPostgresCluster, type PostgresCluster } from '../test/helpers/postgres.js';
import { summariseCpuProfiles } from './lib/cpu-profile-summary.js';
import { printGrowth, runStoreGrowth, type GrowthRecord } from './lib/store-growth.js';

type ServerKind = 'anvil' | 'pebble';

type StoreKind = 'sqlite' | 'postgres';

/** One Anvil deployment shape. */
interface Shape {
  store: StoreKind;
  instances: number;
  workers: number;
}

interface RunRecord {
  server: ServerKind;
  /** Anvil's shape; absent for Pebble. */
  shape?: Shape;
  concurrency: number;
  completed: number;
  ordersPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstErrors: string[];
  stalled: boolean;
  stuckClients: number;
  /** Orders completed in each second. */
  timeline: number[];
  /** Seconds the rate was taken over (up to the last completion when stalled). */
  windowS: number;
  stopReason: string;
  phaseMs: PhaseTimes | null;
  requestsPerOrder: number;
  serverCpuMsPerOrder: number | null;
  generatorCpuMsPerOrder: number | null;
  serverPeakRssMb: number | null;
  /** Set when the server did not start or the run failed. */
  failure?: string;
}

const USAGE = `usage: scripts/bench [--concurrency 1,8,32] [--orders N] [--seconds S] [--peer pebble|none]
                    [--anvil yes|no] [--warmup N] [--stall-seconds S] [--poll-ms MS] [--json]
                    [--anvil-node-args "--cpu-prof --cpu-prof-dir=/tmp/prof"] [--cpu-profile DIR]
                    [--store sqlite,postgres] [--instances 1,3] [--workers 1,2]
       scripts/bench --preload 0,1000000 [--store sqlite,postgres] [--concurrency 32] [--seconds 15] [--idle-seconds 75] [--json]`;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      concurrency: { type: 'string', default: '1,8,32' },
      orders: { type: 'string', default: '2000' },
      seconds: { type: 'string', default: '20' },
      peer: { type: 'string', default: 'pebble' },
      anvil: { type: 'string', default: 'yes' },
      warmup: { type: 'string', default: '0' },
      'anvil-node-args': { type: 'string', default: '' },
      'cpu-profile': { type: 'string' },
      'stall-seconds': { type: 'string', default: '5' },
      'poll-ms': { type: 'string', default: '10' },
      json: { type: 'boolean', default: false },
      preload: { type: 'string' },
      store: { type: 'string', default: 'sqlite' },
      instances: { type: 'string', default: '1' },
      workers: { type: 'string', default: '1' },
      'idle-seconds': { type: 'string', default: '75' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const positive = (flag: string, raw: string, min = 1): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${flag}: expected a number >= ${min}, got "${raw}"\n${USAGE}`);
    return n;
  };
  const concurrency = values.concurrency.split(',').map((c) => Math.floor(positive('concurrency', c.trim())));
  if (concurrency.some((c) => c > 512)) throw new Error('--concurrency: at most 512 clients');
  if (values.peer !== 'pebble' && values.peer !== 'none') throw new Error(`--peer: expected pebble or none\n${USAGE}`);
  if (values.anvil !== 'yes' && values.anvil !== 'no') throw new Error(`--anvil: expected yes or no\n${USAGE}`);
  const servers: ServerKind[] = [...(values.anvil === 'yes' ? ['anvil' as const] : []), ...(values.peer === 'pebble' ? ['pebble' as const] : [])];
  if (servers.length === 0) throw new Error('nothing to run: --anvil no and --peer none');
  const stores = values.store.split(',').map((v) => v.trim());
  for (const st of stores) if (st !== 'sqlite' && st !== 'postgres') throw new Error(`--store: expected sqlite and/or postgres, got "${st}"\n${USAGE}`);
  const counts = (flag: string, raw: string, max: number): number[] =>
    raw.split(',').map((c) => {
      const n = Math.floor(positive(flag, c.trim()));
      if (n > max) throw new Error(`--${flag}: at most ${max}`);
      return n;
    });
  const shapes: Shape[] = [];
  for (const store of stores as StoreKind[]) for (const instances of counts('instances', values.instances, 8)) for (const workers of counts('workers', values.workers, 16)) shapes.push({ store, instances, workers });
  return {
    shapes,
    concurrency,
    servers,
    orders: Math.floor(positive('orders', values.orders)),
    seconds: positive('seconds', values.seconds),
    warmup: Math.floor(positive('warmup', values.warmup, 0)),
    stallSeconds: positive('stall-seconds', values['stall-seconds']),
    pollMs: positive('poll-ms', values['poll-ms'], 0),
    json: values.json,
    preload: values.preload === undefined ? undefined : values.preload.split(',').map((n) => Math.floor(positive('preload', n.trim(), 0))),
    idleSeconds: positive('idle-seconds', values['idle-seconds'], 0),
    anvilNodeArgs: [
      ...values['anvil-node-args'].split(' ').filter((arg) => arg !== ''),
      ...(values['cpu-profile'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(values['cpu-profile'])}`] : []),
    ],
    cpuProfileDir: values['cpu-profile'] === undefined ? undefined : path.resolve(values['cpu-profile']),
  };
}

type Options = ReturnType<typeof parseOptions>;

async function measure(kind: ServerKind, concurrency: number, options: Options, dnsResolver: string, http01Port: number, shape?: Shape, postgres?: () => Promise<PostgresCluster>): Promise<RunRecord> {
  const empty = { completed: 0, ordersPerSec: 0, p50Ms: 0, p99Ms: 0, errors: 0, firstErrors: [], stalled: false, stuckClients: 0, timeline: [], windowS: 0, stopReason: 'failed', phaseMs: null, requestsPerOrder: 0, serverCpuMsPerOrder: null, generatorCpuMsPerOrder: null, serverPeakRssMb: null };
  const started: RunningServer[] = [];
  try {
    if (kind === 'anvil') {
      const s = shape ?? { store: 'sqlite', instances: 1, workers: 1 };
      const databaseUrl = s.store === 'postgres' ? await (await postgres!()).createDatabase() : undefined;
      const common = { http01Port, dnsResolver, nodeArgs: options.anvilNodeArgs };
      const args = (extra: string[] = []) => ['--workers', String(s.workers), ...(databaseUrl ? ['--database-url', databaseUrl] : []), ...extra];
      const first = await startAnvil({ ...common, extraArgs: args() });
      started.push(first);
      // SQLite instances share the one data directory; PostgreSQL ones each have their own.
      for (let i = 1; i < s.instances; i++) started.push(await startAnvil({ ...common, ...(databaseUrl ? {} : { dataDir: first.dataDir }), extraArgs: args(databaseUrl ? [] : ['--extra-instance']) }));
    } else {
      started.push(await startPebble({ http01Port, dnsResolver }));
    }
    const server = started[0]!;
    const common = { directoryUrl: server.directoryUrl, moreDirectoryUrls: started.slice(1).map((x) => x.directoryUrl), caPem: server.caPem, concurrency, http01Port, pollMs: options.pollMs, stallSeconds: options.stallSeconds };
    if (options.warmup > 0) {
      await runLoad({ ...common, maxOrders: options.warmup, maxSeconds: options.seconds, namePrefix: `${kind}-w${concurrency}` });
    }
    const sample = () => {
      const each = started.map((x) => sampleTree(x.pid));
      return each.some((x) => x === undefined) ? undefined : { cpuMs: each.reduce((a, x) => a + x!.cpuMs, 0), peakRssKb: each.reduce((a, x) => a + x!.peakRssKb, 0) };
    };
    let serverBefore = sample();
    let generatorBefore = process.cpuUsage();
    const result = await runLoad({
      ...common,
      maxOrders: options.orders,
      maxSeconds: options.seconds,
      namePrefix: `${kind}-c${concurrency}`,
      onStart: () => {
        serverBefore = sample();
        generatorBefore = process.cpuUsage();
      },
    });
    const serverAfter = sample();
    const generator = process.cpuUsage(generatorBefore);
    const perOrder = (ms: number): number | null => (result.completed > 0 ? round(ms / result.completed, 2) : null);
    if (serverAfter === undefined) process.stderr.write(`${kind} exited during the run:\n${server.output()}\n`);
    return {
      server: kind,
      ...(kind === 'anvil' && shape ? { shape } : {}),
      concurrency,
      completed: result.completed,
      ordersPerSec: round(result.ordersPerSec, 1),
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      errors: result.errors.count,
      firstErrors: result.errors.first,
      stalled: result.stalled,
      stuckClients: result.stuckClients,
      timeline: result.timeline,
      windowS: round(result.windowS, 2),
      stopReason: result.stopReason,
      phaseMs: result.phaseMs,
      requestsPerOrder: result.requestsPerOrder,
      serverCpuMsPerOrder: serverBefore && serverAfter ? perOrder(serverAfter.cpuMs - serverBefore.cpuMs) : null,
      generatorCpuMsPerOrder: perOrder((generator.user + generator.system) / 1000),
      serverPeakRssMb: serverAfter ? round(serverAfter.peakRssKb / 1024, 1) : null,
    };
  } catch (error) {
    const message = (error as Error).message;
    process.stderr.write(`\n${kind} at concurrency ${concurrency} failed: ${message}\n`);
    for (const server of started) process.stderr.write(`--- ${kind} output (tail) ---\n${server.output().slice(-4000)}\n---\n`);
    return { server: kind, ...(kind === 'anvil' && shape ? { shape } : {}), concurrency, ...empty, failure: message.split('\n')[0]! };
  } finally {
    await Promise.all(started.map((x) => x.stop()));
  }
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** `anvil postgres 3×2`: store, instances × workers per instance. */
function label(r: RunRecord): string {
  return r.shape ? `${r.server} ${r.shape.store} ${r.shape.instances}×${r.shape.workers}` : r.server;
}

function printTable(runs: RunRecord[]): void {
  const header = ['server', 'conc', 'done', 'orders/s', 'p50 ms', 'p99 ms', 'errors', 'stalled', 'srv CPU ms/order', 'gen CPU ms/order', 'srv peak RSS MB'];
  const rows = runs.map((r) =>
    r.failure
      ? [label(r), String(r.concurrency), 'FAILED', '-', '-', '-', '-', '-', '-', '-', '-']
      : [
          label(r),
          String(r.concurrency),
          String(r.completed),
          r.ordersPerSec.toFixed(1),
          r.p50Ms.toFixed(1),
          r.p99Ms.toFixed(1),
          String(r.errors),
          r.stalled ? `yes @${r.windowS}s, ${r.stuckClients}/${r.concurrency} stuck` : 'no',
          r.serverCpuMsPerOrder?.toFixed(2) ?? '-',
          r.generatorCpuMsPerOrder?.toFixed(2) ?? '-',
          r.serverPeakRssMb?.toFixed(1) ?? '-',
        ],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  for (const r of runs) {
    if (!r.phaseMs || r.completed === 0) continue;
    const p = r.phaseMs;
    console.log(`  ${label(r)} c=${r.concurrency}: mean ms per order: order ${p.order}, validation ${p.validation}, issuance ${p.issuance}, download ${p.download}; ${r.requestsPerOrder} requests/order; stop: ${r.stopReason}; orders per second: ${r.timeline.join(' ')}`);
  }
  for (const r of runs) if (r.failure) console.log(`  ${label(r)} c=${r.concurrency} FAILED: ${r.failure}`);
  for (const r of runs) for (const e of r.firstErrors) console.log(`  ${label(r)} c=${r.concurrency} error: ${e}`);
}

interface Ratio {
  anvil: string;
  concurrency: number;
  ordersPerSec: number | null;
  cpuPerOrder: number | null;
}

function ratios(runs: RunRecord[]): Ratio[] {
  const out: Ratio[] = [];
  for (const anvil of runs.filter((r) => r.server === 'anvil' && !r.failure)) {
    const pebble = runs.find((r) => r.server === 'pebble' && r.concurrency === anvil.concurrency && !r.failure);
    if (!pebble) continue;
    out.push({
      anvil: label(anvil),
      concurrency: anvil.concurrency,
      ordersPerSec: pebble.ordersPerSec > 0 ? round(anvil.ordersPerSec / pebble.ordersPerSec, 2) : null,
      cpuPerOrder: anvil.serverCpuMsPerOrder !== null && pebble.serverCpuMsPerOrder ? round(anvil.serverCpuMsPerOrder / pebble.serverCpuMsPerOrder, 2) : null,
    });
  }
  return out;
}

async function main(): Promise<number> {
  const options = parseOptions();
  const dns = await startDnsServer();
  const http01Port = await freePort();
  if (options.preload) {
    let cluster: PostgresCluster | undefined;
    try {
      const records: GrowthRecord[] = [];
      for (const store of new Set(options.shapes.map((s) => s.store))) {
        if (store === 'postgres') cluster ??= await startPostgresCluster({ durable: true });
        const pgCluster = cluster;
        records.push(
          ...(await runStoreGrowth({
            sizes: options.preload,
            ...(store === 'postgres' ? { createDatabase: () => pgCluster!.createDatabase() } : {}),
            concurrency: options.concurrency.at(-1)!,
            orders: options.orders,
            seconds: options.seconds,
            idleSeconds: options.idleSeconds,
            pollMs: options.pollMs,
            dnsResolver: dns.resolver,
            http01Port,
            nodeArgs: options.anvilNodeArgs,
            log: (line) => (options.json ? undefined : process.stderr.write(`${line}\n`)),
          })),
        );
      }
      if (options.json) console.log(JSON.stringify({ machine: { cpus: cpus().length, node: process.version }, options, growth: records }, null, 2));
      else printGrowth(records);
      return records.some((r) => r.completed === 0) ? 1 : 0;
    } finally {
      await cluster?.destroy();
      await dns.close();
    }
  }
  const runs: RunRecord[] = [];
  let cluster: Promise<PostgresCluster> | undefined;
  const postgres = (): Promise<PostgresCluster> => (cluster ??= startPostgresCluster({ durable: true }));
  try {
    for (const concurrency of options.concurrency) {
      for (const kind of options.servers) {
        for (const shape of kind === 'anvil' ? options.shapes : [undefined]) {
          const what = shape ? `anvil (${shape.store}, ${shape.instances} instance(s) × ${shape.workers} worker(s))` : kind;
          if (!options.json) process.stderr.write(`running ${what} at concurrency ${concurrency} (≤ ${options.orders} orders, ≤ ${options.seconds} s)…\n`);
          runs.push(await measure(kind, concurrency, options, dns.resolver, http01Port, shape, postgres));
        }
      }
    }
  } finally {
    await dns.close();
    if (cluster) await (await cluster).destroy();
  }
  const ratioList = ratios(runs);
  if (options.json) {
    console.log(JSON.stringify({ machine: { cpus: cpus().length, node: process.version }, options, runs, ratios: ratioList }, null, 2));
  } else {
    printTable(runs);
    for (const r of ratioList) {
      console.log(`${r.anvil} c=${r.concurrency}: Anvil/Pebble orders/s ${r.ordersPerSec ?? '-'}×, server CPU per order ${r.cpuPerOrder ?? '-'}×`);
    }
    if (runs.some((r) => r.stalled)) {
      console.log('stalled: an order (or every order) made no progress for --stall-seconds; orders/s is taken up to the start of the');
      console.log('first stuck order, CPU per order over the whole run.');
    }
    // Each Anvil process writes its profile when it exits; the largest is the serving process.
    if (options.cpuProfileDir) console.log(summariseCpuProfiles(options.cpuProfileDir));
  }
  return runs.some((r) => r.failure) ? 1 : 0;
}

runBenchmark(main);
