/**
 * CRL generation benchmark: Anvil's CRL publisher against `openssl ca -gencrl` on the same number
 * of revoked entries, side by side in one run.
 *
 * Anvil: a fresh CA (ECDSA P-256 intermediate, encrypted key file) and SQLite store holding N
 * revoked certificates, each with the CRL entry Anvil stores at revocation (crl_entries); timed is one
 * publication of the issuer's full CRL as the server does it (read the entries from the store,
 * allocate the CRL number, encode, sign, store). openssl: its own P-256 CA with an index.txt
 * listing the same serials as revoked; timed is the whole `openssl ca -gencrl` process (read the
 * index, encode, sign, write). Both CRLs are checked: openssl verifies each signature and the
 * entry count is read back from Anvil's CRL.
 *
 *   scripts/bench-crl [--entries 100000,1000000] [--peer openssl|none] [--json]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { AsnParser } from '@peculiar/asn1-schema';
import { CertificateList } from '@peculiar/asn1-x509';
import * as asn1js from 'asn1js';
import { pino } from 'pino';
import { openCa } from '../src/ca/ca-directory.js';
import { derToPem } from '../src/ca/certificate-builder.js';
import { KeyStores } from '../src/ca/key-stores.js';
import { CrlService } from '../src/revocation/crl-service.js';
import { encodeCrlEntry } from '../src/revocation/crl-encoding.js';
import { auditKeyFrom } from '../src/store/audit-chain.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { FULL_CRL } from '../src/store/types.js';
import { runBenchmark } from './lib/servers.js';

const USAGE = 'usage: scripts/bench-crl [--entries 100000,1000000] [--peer openssl|none] [--json]';
const PASSPHRASE = 'bench-crl passphrase';
const DAY = 86_400_000;

interface Row {
  entries: number;
  anvilSeconds: number;
  anvilBytes: number;
  opensslSeconds: number | null;
  opensslBytes: number | null;
  setupSeconds: number;
}

function serialOf(i: number): string {
  // 16 bytes, first byte 0x01..0x7f like Anvil's own serials; unique per i.
  return `1${i.toString(16).padStart(31, '0')}`;
}

/** Anvil: CA, store, N revoked certificates inserted in bulk; returns the publication time. */
async function anvilCrl(dir: string, n: number): Promise<{ seconds: number; bytes: number; setupSeconds: number }> {
  const setupStart = performance.now();
  const dataDir = join(dir, 'anvil');
  const keys = new KeyStores({ caDir: join(dataDir, 'ca'), passphrase: PASSPHRASE });
  const ca = await openCa(dataDir, keys, { timeoutMs: 60_000, failures: 3, cooldownMs: 10_000 }, { alternateRoot: false, label: 'CRL bench' });
  const issuer = ca.active;
  const dbPath = join(dataDir, 'anvil.db');
  const store = new SqliteStore(dbPath, { auditKey: auditKeyFrom(PASSPHRASE), durability: 'normal' });
  // Bulk insert on a second connection, without foreign keys (no accounts or orders behind them):
  // a million revocations through the API would measure the setup, not the CRL.
  const bulk = new Database(dbPath);
  bulk.pragma('foreign_keys = OFF');
  const insert = bulk.prepare(
    `INSERT INTO certificates (id, serial, issuer_id, account_id, order_id, profile, identifiers, not_before, not_after, der, chain_pem,
       spki_sha256, issued_at, crl_shard, profile_hash, renewal_start, renewal_end, revoked_at, revocation_reason)
     VALUES (?, ?, ?, 'bench', 'bench', 'default', '[]', ?, ?, x'00', '', '', ?, ?, '', ?, ?, ?, ?)`,
  );
  const insertEntry = bulk.prepare('INSERT INTO crl_entries (issuer_id, revoked_at, serial, shard, not_after, entry) VALUES (?, ?, ?, ?, ?, ?)');
  const now = Date.now();
  const revokedAt = new Date(Math.floor(now / 1000) * 1000 - 3600_000);
  bulk.transaction(() => {
    for (let i = 0; i < n; i++) {
      const serial = serialOf(i);
      const reason = i % 4 === 0 ? 0 : 1;
      const entry = encodeCrlEntry({ serial, revokedAt, reason, invalidityDate: null });
      insert.run(`bench-${i}`, serial, issuer.id, now - DAY, now + 7 * DAY, now - DAY, i % 16, now, now, revokedAt.getTime(), reason);
      insertEntry.run(issuer.id, revokedAt.getTime(), serial, i % 16, now + 7 * DAY, Buffer.from(entry));
    }
  })();
  bulk.close();
  const crl = new CrlService({
    store,
    issuers: () => ca.issuers,
    shards: 16,
    lifetimeMs: DAY,
    revocationDelayMs: 2000,
    shardUrl: (id, shard) => `http://127.0.0.1/crl/${id}/${shard}.crl`,
    log: pino({ level: 'silent' }),
  });
  const setupSeconds = (performance.now() - setupStart) / 1000;

  const started = performance.now();
  const published = await crl.publish(issuer, FULL_CRL);
  const seconds = (performance.now() - started) / 1000;

  // Check the result: openssl verifies the signature, the entry count is what was revoked.
  const crlPath = join(dir, 'anvil.crl');
  const issuerPath = join(dir, 'anvil-issuer.pem');
  writeFileSync(crlPath, published.der);
  writeFileSync(issuerPath, derToPem(issuer.certDer));
  assertSignatureVerifies(['-inform', 'DER', '-in', crlPath, '-CAfile', issuerPath], 'Anvil');
  const ber = asn1js.fromBER(published.der, { maxDepth: Infinity, maxNodes: Infinity, maxContentLength: Infinity } as never);
  const listed = AsnParser.fromASN<CertificateList>(ber.result, CertificateList).tbsCertList.revokedCertificates?.length ?? 0;
  if (listed !== n) throw new Error(`Anvil's CRL lists ${listed} entries, expected ${n}`);
  await store.close();
  return { seconds, bytes: published.der.byteLength, setupSeconds };
}

/** `openssl crl -CAfile` checks the CRL's signature and says so on stderr. */
function assertSignatureVerifies(args: string[], whose: string): void {
  const r = spawnSync('openssl', ['crl', ...args, '-noout'], { encoding: 'utf8' });
  if (r.status !== 0 || !/verify OK/.test(`${r.stdout}${r.stderr}`)) throw new Error(`${whose}'s CRL does not verify: ${r.stdout}${r.stderr}`);
}

/** openssl: its own CA and an index.txt with the same serials revoked; times `openssl ca -gencrl`. */
function opensslCrl(dir: string, n: number): { seconds: number; bytes: number } {
  const ca = join(dir, 'openssl');
  execFileSync('mkdir', ['-p', ca]);
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: ca, stdio: ['ignore', 'pipe', 'pipe'] });
  run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
  run(['req', '-new', '-x509', '-key', 'ca.key', '-subj', '/CN=openssl CRL bench', '-days', '30', '-out', 'ca.pem']);
  const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  const now = Date.now();
  const expiry = stamp(now + 7 * DAY);
  const revoked = stamp(now - 3600_000);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const reason = i % 4 === 0 ? 'unspecified' : 'keyCompromise';
    lines.push(`R\t${expiry}\t${revoked},${reason}\t${serialOf(i).toUpperCase()}\tunknown\t/CN=bench-${i}`);
  }
  writeFileSync(join(ca, 'index.txt'), lines.join('\n') + '\n');
  writeFileSync(join(ca, 'index.txt.attr'), 'unique_subject = no\n');
  writeFileSync(join(ca, 'crlnumber'), '01\n');
  writeFileSync(
    join(ca, 'openssl.cnf'),
    ['[ca]', 'default_ca = bench', '[bench]', `dir = ${ca}`, 'database = $dir/index.txt', 'crlnumber = $dir/crlnumber', 'certificate = $dir/ca.pem',
      'private_key = $dir/ca.key', 'default_md = sha256', 'default_crl_days = 1', 'crl_extensions = crl_ext', '[crl_ext]', 'authorityKeyIdentifier = keyid:always', ''].join('\n'),
  );
  const started = performance.now();
  run(['ca', '-gencrl', '-config', 'openssl.cnf', '-out', 'crl.der.pem', '-batch']);
  const seconds = (performance.now() - started) / 1000;
  run(['crl', '-in', 'crl.der.pem', '-outform', 'DER', '-out', 'crl.der']);
  assertSignatureVerifies(['-in', join(ca, 'crl.der.pem'), '-CAfile', join(ca, 'ca.pem')], 'openssl');
  const bytes = Number(execFileSync('stat', ['-c', '%s', join(ca, 'crl.der')]).toString().trim());
  return { seconds, bytes };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { entries: { type: 'string', default: '100000,1000000' }, peer: { type: 'string', default: 'openssl' }, json: { type: 'boolean', default: false } },
  });
  const counts = values.entries!.split(',').map((s) => Number(s));
  if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > 5_000_000)) throw new Error(`--entries: whole numbers from 1 to 5000000\n${USAGE}`);
  if (values.peer !== 'openssl' && values.peer !== 'none') throw new Error(`--peer: openssl or none\n${USAGE}`);
  const rows: Row[] = [];
  for (const n of counts) {
    const dir = mkdtempSync(join(tmpdir(), 'anvil-bench-crl-'));
    try {
      process.stderr.write(`${n} entries: setting up and publishing Anvil's CRL…\n`);
      const anvil = await anvilCrl(dir, n);
      let peer: { seconds: number; bytes: number } | null = null;
      if (values.peer === 'openssl') {
        process.stderr.write(`${n} entries: openssl ca -gencrl…\n`);
        peer = opensslCrl(dir, n);
      }
      rows.push({ entries: n, anvilSeconds: anvil.seconds, anvilBytes: anvil.bytes, opensslSeconds: peer?.seconds ?? null, opensslBytes: peer?.bytes ?? null, setupSeconds: anvil.setupSeconds });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (values.json) {
    console.log(JSON.stringify(rows, null, 2));
    return 0;
  }
  console.log('entries    anvil s  anvil MB  openssl s  openssl MB  openssl/anvil time');
  for (const r of rows) {
    const ratio = r.opensslSeconds === null ? '—' : `${(r.opensslSeconds / r.anvilSeconds).toFixed(2)}×`;
    console.log(
      `${String(r.entries).padEnd(9)}  ${r.anvilSeconds.toFixed(2).padStart(7)}  ${(r.anvilBytes / 1e6).toFixed(1).padStart(8)}  ${
        r.opensslSeconds === null ? '—'.padStart(9) : r.opensslSeconds.toFixed(2).padStart(9)
      }  ${r.opensslBytes === null ? '—'.padStart(10) : (r.opensslBytes / 1e6).toFixed(1).padStart(10)}  ${ratio.padStart(18)}`,
    );
  }
  console.log('Anvil: one full-CRL publication (store read, CRL number, encode, sign, store). openssl: the whole `openssl ca -gencrl` process.');
  return 0;
}

runBenchmark(main);
