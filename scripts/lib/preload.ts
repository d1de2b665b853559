/**
 * Grows an Anvil SQLite store to N certificates through the server's own schema, for the flat
 * cost benchmark. The rows are clones of rows a real server wrote for real orders (account,
 * order, authorization, challenges, serial, certificate, chain, OCSP answer, names, renewal
 * links, counters), shaped like a fleet: `services` names, each renewed once a day, so the
 * newest generation is live and the older ones expired, one a day back. The audit log is not
 * cloned (its chain is keyed by the passphrase): the store's own audit rows are counted apart.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';

export interface PreloadOptions {
  dbPath: string;
  certificates: number;
  /** Distinct service names; certificates / services generations, one a day. */
  services?: number;
  /** Certificates per account. */
  perAccount?: number;
  log?: (line: string) => void;
}

const DAY = 86_400_000;
const HOUR = 3_600_000;
const MINUTE = 60_000;

// Ids ascend (a random run prefix, then a counter): appending to each index keeps growing a store
// to a million certificates to minutes. Lookups cost the same as on the server's random ids.
const run = randomBytes(4).toString('hex');
let next = 0;
const id = (): string => `${run}${(next++).toString(36).padStart(9, '0')}`;
const noise = randomBytes(1 << 20);
const token = (i: number): string => noise.subarray((i * 32) % (noise.length - 32), ((i * 32) % (noise.length - 32)) + 32).toString('base64url');
const serialOf = (i: number): string => `7${run}${i.toString(16).padStart(23, '0')}`;

export function preloadStore(o: PreloadOptions): { inserted: number; seconds: number } {
  const started = Date.now();
  const db = new Database(o.dbPath);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.pragma('foreign_keys = OFF');
  db.pragma('cache_size = -1000000');
  const seedCert = db.prepare('SELECT * FROM certificates WHERE chain_id IS NOT NULL AND revoked_at IS NULL ORDER BY issued_at DESC LIMIT 1').get() as Record<string, unknown> | undefined;
  if (!seedCert) throw new Error('preload: the store has no issued certificate to clone (issue one first)');
  const seed = { account: db.prepare('SELECT * FROM accounts LIMIT 1').get() as Record<string, unknown>, cert: seedCert };
  const order = db.prepare('SELECT * FROM orders WHERE id = ?').get(seed.cert.order_id) as Record<string, unknown>;
  const authz = db.prepare('SELECT a.* FROM authzs a JOIN order_authzs oa ON oa.authz_id = a.id WHERE oa.order_id = ? LIMIT 1').get(order.id) as Record<string, unknown>;
  const challenges = db.prepare("SELECT * FROM challenges WHERE authz_id = ? AND status = 'valid'").all(authz.id) as Record<string, unknown>[];
  const ocsp = db.prepare('SELECT * FROM ocsp_responses WHERE certificate_id = ?').get(seed.cert.id) as Record<string, unknown> | undefined;

  const services = o.services ?? Math.max(1, Math.ceil(o.certificates / 10));
  const perAccount = o.perAccount ?? 100;
  const generations = Math.ceil(o.certificates / services);
  const now = Date.now();

  const ins = {
    account: db.prepare('INSERT INTO accounts (id, status, jwk, thumbprint, contact, tos_agreed, created_at, external_account_id, created_ip) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)'),
    order: db.prepare(
      `INSERT INTO orders (id, account_id, status, identifiers, profile, not_before, not_after, expires_at, created_at, error, csr, certificate_id, replaces, replaces_cert_id)
       VALUES (?, ?, 'valid', ?, ?, NULL, NULL, ?, ?, NULL, NULL, ?, ?, NULL)`,
    ),
    authz: db.prepare(
      `INSERT INTO authzs (id, account_id, identifier_type, identifier_value, wildcard, status, expires_at, created_at, validated_at) VALUES (?, ?, 'dns', ?, 0, 'valid', ?, ?, ?)`,
    ),
    challenge: db.prepare('INSERT INTO challenges (id, authz_id, type, token, status, validated_at, error, validation_record, finished_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)'),
    link: db.prepare('INSERT INTO order_authzs (order_id, position, authz_id) VALUES (?, 0, ?)'),
    serial: db.prepare('INSERT INTO serials (serial, issuer_id, order_id, reserved_at) VALUES (?, ?, ?, ?)'),
    cert: db.prepare(
      `INSERT INTO certificates (id, serial, issuer_id, account_id, order_id, profile, identifiers, not_before, not_after, der, chain_pem, chain_id,
         spki_sha256, issued_at, crl_shard, profile_hash, renewal_start, renewal_end, predecessor_id, successor_id, renewal_lead)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
    ),
    successor: db.prepare('UPDATE certificates SET successor_id = ? WHERE id = ?'),
    name: db.prepare('INSERT INTO certificate_names (name, issued_at, certificate_id) VALUES (?, ?, ?)'),
    ocsp: db.prepare('INSERT INTO ocsp_responses (certificate_id, der, this_update, next_update, revoked, refresh_at) VALUES (?, ?, ?, ?, 0, ?)'),
    counter: db.prepare('INSERT INTO counters (scope, key, width, bucket, n) VALUES (?, ?, ?, ?, 1) ON CONFLICT (scope, key, width, bucket) DO UPDATE SET n = n + 1'),
  };

  const accounts: string[] = [];
  const lifetime = (seed.cert.not_after as number) - (seed.cert.not_before as number);
  const renewalStart = (seed.cert.renewal_start as number) - (seed.cert.not_before as number);
  const renewalEnd = (seed.cert.renewal_end as number) - (seed.cert.not_before as number);
  const lastOf = new Map<number, string>(); // service -> its newest certificate so far
  let inserted = 0;
  const BATCH = 10_000;
  // Oldest generation first, so each certificate's predecessor exists when it is written.
  const insertBatch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const generation = Math.floor(i / services);
      const service = i % services;
      if (service % perAccount === 0 && accounts.length <= Math.floor(service / perAccount)) {
        const a = id();
        ins.account.run(a, 'valid', seed.account.jwk, `preload-${a}`, '[]', 1, now - generations * DAY);
        accounts.push(a);
      }
      const accountId = accounts[Math.floor(service / perAccount)]!;
      const name = `svc-${service}.preload.test`;
      // Services renew at their own time of day, so issuance and expiry spread over each day.
      const issuedAt = now - (generations - 1 - generation) * DAY - ((service * 7919) % (DAY - HOUR)) - HOUR;
      const notBefore = issuedAt - MINUTE;
      const notAfter = notBefore + lifetime;
      const orderId = id();
      const authzId = id();
      const certId = id();
      const serial = serialOf(next);
      const identifiers = JSON.stringify([{ type: 'dns', value: name }]);
      ins.order.run(orderId, accountId, identifiers, order.profile, issuedAt + 23 * HOUR, issuedAt - 2_000, certId, null);
      ins.authz.run(authzId, accountId, name, issuedAt + 7 * DAY, issuedAt - 2_000, issuedAt - 1_000);
      for (const c of challenges) {
        const validated = c.status === 'valid';
        ins.challenge.run(id(), authzId, c.type, token(next), c.status, validated ? issuedAt - 1_000 : null, validated ? c.validation_record : null, validated ? issuedAt - 1_000 : null);
      }
      ins.link.run(orderId, authzId);
      ins.serial.run(serial, seed.cert.issuer_id, orderId, issuedAt - 500);
      const predecessor = lastOf.get(service) ?? null;
      ins.cert.run(
        certId, serial, seed.cert.issuer_id, accountId, orderId, seed.cert.profile, identifiers, notBefore, notAfter, seed.cert.der, seed.cert.chain_id,
        seed.cert.spki_sha256, issuedAt, i % 16, seed.cert.profile_hash, notBefore + renewalStart, notBefore + renewalEnd, predecessor, null,
      );
      if (predecessor) ins.successor.run(certId, predecessor);
      lastOf.set(service, certId);
      ins.name.run(name, issuedAt, certId);
      // Retention drops an expired certificate's answer a response lifetime after notAfter.
      if (ocsp && notAfter > now - lifetime) {
        const live = notAfter > now;
        ins.ocsp.run(certId, ocsp.der, issuedAt, issuedAt + lifetime, live ? issuedAt + lifetime / 2 : null);
      }
      if (issuedAt > now - 8 * DAY) {
        ins.counter.run('issued:account', accountId, MINUTE, Math.floor(issuedAt / MINUTE));
        ins.counter.run('issued:account', accountId, HOUR, Math.floor(issuedAt / HOUR));
        ins.counter.run('issued:profile', seed.cert.profile, MINUTE, Math.floor(issuedAt / MINUTE));
        ins.counter.run('issued:profile', seed.cert.profile, HOUR, Math.floor(issuedAt / HOUR));
      }
      if (notAfter > now) {
        ins.counter.run('expires', seed.cert.issuer_id, HOUR, Math.floor(notAfter / HOUR));
        ins.counter.run('expires:live', seed.cert.issuer_id, HOUR, Math.floor(notAfter / HOUR));
      }
      inserted++;
    }
  });
  for (let from = 0; from < o.certificates; from += BATCH) {
    insertBatch(from, Math.min(o.certificates, from + BATCH));
    if (o.log && (from / BATCH) % 20 === 0) o.log(`preload: ${Math.min(o.certificates, from + BATCH)} / ${o.certificates}`);
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return { inserted, seconds: (Date.now() - started) / 1000 };
}
