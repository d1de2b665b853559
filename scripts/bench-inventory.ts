/**
 * Dashboard inventory benchmark: a real Anvil process over a SQLite store preloaded with N
 * certificates (default 1,000,000), timed through the admin API the dashboard calls
 * (GET /admin/inventory with a bearer token, so each call also appends its audit record).
 *
 * The certificates are inserted in bulk on a second connection, through the dashboard's triggers
 * (name index, successors, counters), as issuance would write them: N/4 names renewed daily (4
 * generations, the newest live), 1,000 accounts, profiles 67/17/8/8 % (classic lives 90 days, the
 * others 24 h), 1 % revoked.
 * Each has a stored (placeholder) OCSP answer valid for a week, so the server's OCSP refresher has
 * nothing to sign. Every query runs --runs times after 3 warm-ups; the table gives p50/p95/max.
 *
 *   scripts/bench-inventory [--certificates 1000000] [--runs 30] [--json]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { auditKeyFrom } from '../src/store/audit-chain.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { runBenchmark } from './lib/servers.js';

const PASSPHRASE = 'bench-inventory passphrase';
const HOUR = 3_600_000;
const PROFILES = ['default', 'default', 'default', 'default', 'default', 'default', 'default', 'default', 'mtls', 'mtls', 'classic', 'ci-ephemeral'];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function get(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { Authorization: `Bearer ${token}` }, timeout: 30_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
  });
}

function preload(dbPath: string, issuerId: string, n: number): { name: string; account: string } {
  const bulk = new Database(dbPath);
  bulk.pragma('foreign_keys = OFF');
  bulk.pragma('synchronous = OFF');
  bulk.pragma('cache_size = -1000000');
  bulk.pragma('temp_store = MEMORY');
  const now = Date.now();
  const insertAccount = bulk.prepare("INSERT INTO accounts (id, status, jwk, thumbprint, contact, tos_agreed, created_at) VALUES (?, 'valid', '{}', ?, '[]', 1, ?)");
  // One shared chain row, as issuance stores it (migration 8): the back-fill has nothing to move.
  const chainId = (bulk.prepare("INSERT INTO certificate_chains (sha256, pem) VALUES ('bench', '') ON CONFLICT (sha256) DO UPDATE SET pem = pem RETURNING id").get() as { id: number }).id;
  const insertCert = bulk.prepare(
    `INSERT INTO certificates (id, serial, issuer_id, account_id, order_id, profile, identifiers, not_before, not_after, der, chain_pem, chain_id,
       spki_sha256, issued_at, crl_shard, profile_hash, renewal_start, renewal_end, revoked_at, revocation_reason)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, x'00', '', ${chainId}, '', ?, ?, '', ?, ?, ?, ?)`,
  );
  const insertOcsp = bulk.prepare('INSERT INTO ocsp_responses (certificate_id, der, this_update, next_update, revoked) VALUES (?, x\'00\', ?, ?, ?)');
  bulk.transaction(() => {
    for (let a = 0; a < 1000; a++) insertAccount.run(`acct-${a}`, `tp-${a}`, now - 30 * 24 * HOUR + a);
  })();
  const names = Math.ceil(n / 4);
  const batch = 50_000;
  for (let start = 0; start < n; start += batch) {
    bulk.transaction(() => {
      for (let i = start; i < Math.min(n, start + batch); i++) {
        // Renewal r of name k: issued in order, each living 24 h, spread over the past day and the next week.
        const k = i % names;
        const r = Math.floor(i / names);
        // Generation 3 (the newest) is live; profile classic lives 90 days, the others one.
        const issued = now - (3 - r) * 24 * HOUR - Math.floor((k / names) * 24 * HOUR) - 1000;
        const profile = PROFILES[k % PROFILES.length]!;
        const notAfter = issued + (profile === 'classic' ? 90 : 1) * 24 * HOUR;
        const name = `host-${k}.svc-${k % 997}.bench.internal`;
        const revoked = i % 100 === 7 ? now - HOUR : null;
        const id = `c${i.toString(36).padStart(8, '0')}`;
        insertCert.run(
          id, `1${i.toString(16).padStart(31, '0')}`, issuerId, `acct-${k % 1000}`, `order-${i}`, profile,
          JSON.stringify([{ type: 'dns', value: name }]), issued, notAfter, issued, i % 16, issued + 16 * HOUR, issued + 18 * HOUR, revoked, revoked ? 4 : null,
        );
        insertOcsp.run(id, now, now + 7 * 24 * HOUR, revoked ? 1 : 0);
      }
    })();
  }
  bulk.close();
  return { name: `host-${Math.floor(names / 2)}.svc-${Math.floor(names / 2) % 997}.bench.internal`, account: 'acct-500' };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { certificates: { type: 'string', default: '1000000' }, runs: { type: 'string', default: '30' }, json: { type: 'boolean', default: false }, 'reuse-data-dir': { type: 'string' } },
  });
  const n = Number(values.certificates);
  const runs = Number(values.runs);
  if (!Number.isSafeInteger(n) || n < 1000 || n > 5_000_000 || !Number.isSafeInteger(runs) || runs < 1 || runs > 1000) {
    process.stderr.write('usage: scripts/bench-inventory [--certificates 1000..5000000] [--runs 1..1000] [--json]\n');
    return 2;
  }
  // The server of this build (beside this script), so that a copy of dist/ can run while dist/ is rebuilt.
  const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
  const dir = mkdtempSync(join(tmpdir(), 'anvil-bench-inventory-'));
  const env = { ...process.env, ANVIL_KEY_PASSPHRASE: PASSPHRASE };
  let child: ReturnType<typeof spawn> | undefined;
  try {
    // --reuse-data-dir: a data dir an earlier run preloaded with the same --certificates (kept, not removed).
    const reused = values['reuse-data-dir'];
    const dataDir = reused ?? join(dir, 'data');
    if (!reused) execFileSync(process.execPath, [main, 'init', '--data-dir', dataDir, '--no-alternate-root'], { env, stdio: 'ignore', timeout: 60_000 });
    const manifest = JSON.parse(readFileSync(join(dataDir, 'ca', 'manifest.json'), 'utf8')) as { issuers: { id: string; status: string }[] };
    const issuerId = manifest.issuers.find((i) => i.status === 'active')!.id;
    const dbPath = join(dataDir, 'anvil.db');
    const t0 = performance.now();
    const names = Math.ceil(n / 4);
    let probe = { name: `host-${Math.floor(names / 2)}.svc-${Math.floor(names / 2) % 997}.bench.internal`, account: 'acct-500' };
    if (!reused) {
      await new SqliteStore(dbPath, { auditKey: auditKeyFrom(PASSPHRASE) }).close();
      probe = preload(dbPath, issuerId, n);
    }
    const preloadSeconds = (performance.now() - t0) / 1000;
    if (!reused) process.stderr.write(`preloaded ${n} certificates in ${preloadSeconds.toFixed(1)} s\n`);
    const token = execFileSync(process.execPath, [main, 'admin-token', 'create', '--role', 'auditor', '--name', 'bench', '--data-dir', dataDir], { env, timeout: 60_000 }).toString().trim();
    const adminPort = await freePort();
    const serverLog = openSync(join(dir, 'server.log'), 'w');
    const startedAt = performance.now();
    child = spawn(process.execPath, [main, 'serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--admin-listen', `127.0.0.1:${adminPort}`, '--anomaly-interval', '0', '--log-level', 'info'], { env, cwd: join(dirname(fileURLToPath(import.meta.url)), '..', '..'), stdio: ['ignore', serverLog, serverLog] });
    const admin = `http://127.0.0.1:${adminPort}`;
    const until = Date.now() + 900_000;
    for (;;) {
      const ok = await get(`${admin}/healthz`, '').then((r) => r.status === 200, () => false);
      if (ok) break;
      if (Date.now() > until) throw new Error(`the server did not start within 900 s\n${readFileSync(join(dir, 'server.log'), 'utf8').slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const startSeconds = (performance.now() - startedAt) / 1000;
    process.stderr.write(`server answered /healthz ${startSeconds.toFixed(1)} s after its start\n`);
    const now = Date.now();
    const first = JSON.parse((await get(`${admin}/admin/inventory?limit=50`, token)).body) as { next: string };
    const queries: [string, string][] = [
      ['first page, no filter', 'limit=50'],
      ['next page (cursor)', `limit=50&cursor=${first.next}`],
      ['by name (4 renewals)', `name=${probe.name}&limit=50`],
      ['by serial', `serial=1${(n >> 1).toString(16).padStart(31, '0')}`],
      ['by account', `account=${probe.account}&limit=50`],
      ['by profile (mtls)', 'profile=mtls&limit=50'],
      ['by issuer', `issuer=${issuerId}&limit=50`],
      ['revoked only', 'revoked=true&limit=50'],
      ['expiring in the next 24 h, unrevoked', `revoked=false&expiresAfter=${new Date(now).toISOString()}&expiresBefore=${new Date(now + 24 * HOUR).toISOString()}&limit=50`],
      ['profile + unrevoked + expiry range', `profile=classic&revoked=false&expiresAfter=${new Date(now + 87 * 24 * HOUR).toISOString()}&expiresBefore=${new Date(now + 88 * 24 * HOUR).toISOString()}&limit=50`],
    ];
    const rows: { query: string; p50: number; p95: number; max: number; results: number }[] = [];
    const time = async (label: string, path: string) => {
      const ms: number[] = [];
      let results = 0;
      for (let i = 0; i < runs + 3; i++) {
        const t = performance.now();
        const res = await get(`${admin}${path}`, token);
        const took = performance.now() - t;
        // /readyz answers 503 (with its checks) while CRLs are first published: still an answer.
        if (res.status !== 200 && !(path === '/readyz' && res.status === 503)) throw new Error(`${path}: HTTP ${res.status} ${res.body}`);
        const body = JSON.parse(res.body) as { certificates?: unknown[] };
        results = body.certificates?.length ?? 1;
        if (i >= 3) ms.push(took);
      }
      ms.sort((a, b) => a - b);
      rows.push({ query: label, p50: ms[Math.floor(ms.length / 2)]!, p95: ms[Math.min(ms.length - 1, Math.floor(ms.length * 0.95))]!, max: ms[ms.length - 1]!, results });
    };
    for (const [label, q] of queries) await time(label, `/admin/inventory?${q}`);
    await time('overview (counters)', '/admin/overview');
    // Not a dashboard call of its own, but the overview's health panel shows it.
    await time('/readyz (readiness checks)', '/readyz');
    if (values.json) {
      process.stdout.write(JSON.stringify({ certificates: n, preloadSeconds, startSeconds, rows }, null, 2) + '\n');
    } else {
      process.stdout.write(`\nInventory over ${n} certificates (ms, ${runs} runs each, through GET /admin/inventory)\n\n| query | results | p50 | p95 | max |\n|---|---|---|---|---|\n`);
      for (const r of rows) process.stdout.write(`| ${r.query} | ${r.results} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.max.toFixed(1)} |\n`);
    }
    const slow = rows.filter((r) => r.p95 >= 300);
    if (slow.length) process.stderr.write(`over 300 ms at p95: ${slow.map((r) => r.query).join(', ')}\n`);
    return slow.length ? 1 : 0;
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 1000));
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    if (process.env.BENCH_KEEP_LOG) process.stderr.write(readFileSync(join(dir, 'server.log'), 'utf8').slice(-6000));
    rmSync(dir, { recursive: true, force: true });
  }
}

runBenchmark(main);
