/**
 * The flat-cost benchmark: the same Anvil, the same load, on stores of different sizes in one
 * run. For each size it seeds a store with real orders, grows it with preload.ts, then measures
 * start until the directory answers, issuance at `concurrency` clients (orders/s, p99, server CPU
 * per order, RSS), the longest wait of a directory GET sent every 100 ms during the load and
 * during an idle period (anomaly scans, OCSP refresh, maintenance at their defaults), the
 * server's own worst event-loop delay, and bytes stored per certificate.
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { statSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runLoad } from './acme-load.js';
import { preloadStore } from './preload.js';
import { freePort, sampleProcess, startAnvil } from './servers.js';

export interface GrowthOptions {
  sizes: number[];
  /** A fresh database for each size on PostgreSQL; SQLite in the data directory otherwise. */
  createDatabase?: () => Promise<string>;
  concurrency: number;
  orders: number;
  seconds: number;
  idleSeconds: number;
  pollMs: number;
  dnsResolver: string;
  http01Port: number;
  nodeArgs: string[];
  log(line: string): void;
}

export interface GrowthRecord {
  store: 'sqlite' | 'postgres';
  certificates: number;
  preloadSeconds: number;
  startMs: number;
  ordersPerSec: number;
  completed: number;
  errors: number;
  stopReason: string;
  p99Ms: number;
  serverCpuMsPerOrder: number | null;
  rssMb: number | null;
  peakRssMb: number | null;
  longestGetDuringLoadMs: number;
  longestGetIdleMs: number;
  serverWorstLoopDelayMs: number | null;
  bytesPerCertificate: number;
  bytesPerCertificateWithoutAudit: number;
  /** The largest tables and indexes, in bytes per certificate, largest first. */
  largestRelations: { name: string; bytesPerCert: number }[];
}

/** Sends a directory GET every 100 ms (one at a time) and remembers the longest wait. */
class StallProbe {
  private longest = 0;
  private stopped = false;
  private readonly done: Promise<void>;
  private readonly agent: https.Agent;

  constructor(private readonly url: string, caPem: string) {
    this.agent = new https.Agent({ keepAlive: true, ca: caPem, maxSockets: 1 });
    this.done = this.loop();
  }

  /** The longest wait since the last call. */
  take(): number {
    const l = this.longest;
    this.longest = 0;
    return l;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
    this.agent.destroy();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const started = performance.now();
      await new Promise<void>((resolve) => {
        const req = https.get(this.url, { agent: this.agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.setTimeout(120_000, () => req.destroy());
        req.on('error', () => resolve());
      });
      const waited = performance.now() - started;
      this.longest = Math.max(this.longest, waited);
      await sleep(Math.max(0, 100 - waited));
    }
  }
}

function scrapeWorstLoopDelay(adminPort: number): Promise<number | null> {
  return new Promise((resolve) => {
    http
      .get(`http://127.0.0.1:${adminPort}/metrics`, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          const m = /anvil_event_loop_max_delay_seconds\{since="start"\} ([0-9.e+-]+)/.exec(body);
          resolve(m ? Number(m[1]) * 1000 : null);
        });
      })
      .on('error', () => resolve(null));
  });
}

type Bytes = { perCert: number; perCertWithoutAudit: number; certificates: number; largest: { name: string; bytesPerCert: number }[] };

const LARGEST = 12;

async function postgresBytes(url: string): Promise<Bytes> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query(
      "SELECT (SELECT COUNT(*) FROM certificates) AS n, pg_database_size(current_database()) AS size, pg_total_relation_size('audit_log') AS audit",
    );
    const { n, size, audit } = r.rows[0] as { n: string; size: string; audit: string };
    // Each table and index on its own (the main fork plus TOAST, free-space and visibility maps).
    const rel = await client.query(
      `SELECT c.relname AS name, pg_total_relation_size(c.oid) - CASE WHEN c.relkind = 'r' THEN pg_indexes_size(c.oid) ELSE 0 END AS bytes
         FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
        WHERE ns.nspname = 'public' AND c.relkind IN ('r', 'i') ORDER BY 2 DESC LIMIT ${LARGEST}`,
    );
    const largest = (rel.rows as { name: string; bytes: string }[]).map((x) => ({ name: x.name, bytesPerCert: Math.round(Number(x.bytes) / Number(n)) }));
    return { perCert: Math.round(Number(size) / Number(n)), perCertWithoutAudit: Math.round((Number(size) - Number(audit)) / Number(n)), certificates: Number(n), largest };
  } finally {
    await client.end();
  }
}

function storeBytes(dataDir: string): Bytes {
  const path = join(dataDir, 'anvil.db');
  const db = new Database(path);
  db.pragma('wal_checkpoint(TRUNCATE)');
  const certificates = (db.prepare('SELECT COUNT(*) AS n FROM certificates').get() as { n: number }).n;
  const audit = (db.prepare("SELECT SUM(pgsize) AS n FROM dbstat WHERE name = 'audit_log'").get() as { n: number | null }).n ?? 0;
  const largest = (db.prepare(`SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC LIMIT ${LARGEST}`).all() as { name: string; bytes: number }[]).map(
    (x) => ({ name: x.name, bytesPerCert: Math.round(x.bytes / certificates) }),
  );
  db.close();
  const size = statSync(path).size + (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0);
  return { perCert: Math.round(size / certificates), perCertWithoutAudit: Math.round((size - audit) / certificates), certificates, largest };
}

export async function runStoreGrowth(o: GrowthOptions): Promise<GrowthRecord[]> {
  const out: GrowthRecord[] = [];
  for (const size of o.sizes) {
    const dataDir = mkdtempSync(join(tmpdir(), 'anvil-growth-'));
    try {
      o.log(`store of ${size} certificates: seeding with real orders…`);
      const databaseUrl = o.createDatabase ? await o.createDatabase() : undefined;
      const storeArgs = databaseUrl ? ['--database-url', databaseUrl] : [];
      const seedServer = await startAnvil({ http01Port: o.http01Port, dnsResolver: o.dnsResolver, dataDir, extraArgs: storeArgs });
      const seeded = await runLoad({ directoryUrl: seedServer.directoryUrl, caPem: seedServer.caPem, concurrency: 4, maxOrders: 40, maxSeconds: 60, http01Port: o.http01Port, namePrefix: `seed${size}` });
      await seedServer.stop();
      let preloadSeconds = 0;
      if (size > seeded.completed) {
        o.log(`growing the store to ${size} certificates…`);
        const target = databaseUrl ? { kind: 'postgres' as const, url: databaseUrl } : { kind: 'sqlite' as const, dbPath: join(dataDir, 'anvil.db') };
        preloadSeconds = (await preloadStore({ target, certificates: size - seeded.completed, log: o.log })).seconds;
      }
      const adminPort = await freePort();
      const t0 = performance.now();
      const server = await startAnvil({ http01Port: o.http01Port, dnsResolver: o.dnsResolver, dataDir, nodeArgs: o.nodeArgs, extraArgs: storeArgs, env: { ANVIL_ADMIN_LISTEN: `127.0.0.1:${adminPort}` }, readyTimeoutMs: 120_000 });
      const startMs = Math.round(performance.now() - t0);
      const probe = new StallProbe(server.directoryUrl, server.caPem);
      try {
        o.log(`store of ${size}: load at ${o.concurrency} clients…`);
        let before = sampleProcess(server.pid);
        const load = await runLoad({
          directoryUrl: server.directoryUrl,
          caPem: server.caPem,
          concurrency: o.concurrency,
          maxOrders: o.orders,
          maxSeconds: o.seconds,
          pollMs: o.pollMs,
          stallSeconds: 30,
          http01Port: o.http01Port,
          namePrefix: `g${size}`,
          onStart: () => {
            before = sampleProcess(server.pid);
            probe.take();
          },
        });
        const after = sampleProcess(server.pid);
        const duringLoad = probe.take();
        o.log(`store of ${size}: ${o.idleSeconds} s idle…`);
        await sleep(o.idleSeconds * 1000);
        const idle = probe.take();
        const worst = await scrapeWorstLoopDelay(adminPort);
        const idleSample = sampleProcess(server.pid);
        out.push({
          store: databaseUrl ? 'postgres' : 'sqlite',
          certificates: size,
          preloadSeconds: Math.round(preloadSeconds),
          startMs,
          ordersPerSec: Math.round(load.ordersPerSec * 10) / 10,
          completed: load.completed,
          errors: load.errors.count,
          stopReason: load.stopReason,
          p99Ms: load.p99Ms,
          serverCpuMsPerOrder: before && after && load.completed > 0 ? Math.round(((after.cpuMs - before.cpuMs) / load.completed) * 100) / 100 : null,
          rssMb: idleSample ? Math.round(idleSample.rssKb / 1024) : null,
          peakRssMb: idleSample ? Math.round(idleSample.peakRssKb / 1024) : null,
          longestGetDuringLoadMs: Math.round(duringLoad),
          longestGetIdleMs: Math.round(idle),
          serverWorstLoopDelayMs: worst === null ? null : Math.round(worst),
          bytesPerCertificate: 0,
          bytesPerCertificateWithoutAudit: 0,
          largestRelations: [],
        });
      } finally {
        await probe.stop();
        await server.stop();
      }
      const bytes = databaseUrl ? await postgresBytes(databaseUrl) : storeBytes(dataDir);
      out.at(-1)!.bytesPerCertificate = bytes.perCert;
      out.at(-1)!.bytesPerCertificateWithoutAudit = bytes.perCertWithoutAudit;
      out.at(-1)!.largestRelations = bytes.largest;
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  return out;
}

export function printGrowth(records: GrowthRecord[]): void {
  const header = ['store', 'certificates', 'start ms', 'orders/s', 'vs first', 'p99 ms', 'CPU ms/order', 'RSS MB (peak)', 'longest GET load/idle ms', 'worst loop delay ms', 'bytes/cert (w/o audit)'];
  const rows = records.map((r) => [
    r.store,
    String(r.certificates),
    String(r.startMs),
    `${r.ordersPerSec} (${r.completed} done, ${r.errors} errors)`,
    (() => {
      const first = records.find((x) => x.store === r.store);
      return first && first.ordersPerSec > 0 ? `${(r.ordersPerSec / first.ordersPerSec).toFixed(2)}×` : '-';
    })(),
    String(r.p99Ms),
    r.serverCpuMsPerOrder?.toFixed(2) ?? '-',
    `${r.rssMb ?? '-'} (${r.peakRssMb ?? '-'})`,
    `${r.longestGetDuringLoadMs} / ${r.longestGetIdleMs}`,
    String(r.serverWorstLoopDelayMs ?? '-'),
    `${r.bytesPerCertificate} (${r.bytesPerCertificateWithoutAudit})`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  for (const r of records) {
    console.log(`  ${r.store} ${r.certificates}: load stopped by ${r.stopReason}; store grown in ${r.preloadSeconds} s`);
    console.log(`    bytes/cert by table and index: ${r.largestRelations.map((x) => `${x.name} ${x.bytesPerCert}`).join(', ')}`);
  }
}
