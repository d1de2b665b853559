/**
 * Grows an Anvil store (SQLite or PostgreSQL) to N certificates through the server's own schema,
 * for the flat-cost benchmark. The rows are clones of rows a real server wrote for real orders
 * (account, order, authorization, challenges, serial, certificate, chain, OCSP answer, names,
 * renewal links, counters), shaped like a fleet: `services` names, each renewed once a day, so the
 * newest generation is live and the older ones expired, one a day back. The audit log is not
 * cloned (its chain is keyed by the passphrase): the store's own audit rows are counted apart.
 *
 * The plan of rows is one, here; `preload-sinks.ts` writes a batch of it to either store. The
 * dashboard's tables fill through the store's own triggers, as on a live server.
 */
import { randomBytes } from 'node:crypto';
import { openSink, type PreloadTarget, type Row, type SeedRows } from './preload-sinks.js';

export type { PreloadTarget } from './preload-sinks.js';

export interface PreloadOptions {
  target: PreloadTarget;
  certificates: number;
  /** Distinct service names; certificates / services generations, one a day. */
  services?: number;
  /** Certificates per account. */
  perAccount?: number;
  log?: (line: string) => void;
}

/** One transaction's rows, each table's in its column order (see TABLES in preload-sinks.ts). */
export interface Batch {
  accounts: Row[];
  orders: Row[];
  authzs: Row[];
  challenges: Row[];
  orderAuthzs: Row[];
  serials: Row[];
  certificates: Row[];
  names: Row[];
  ocsp: Row[];
  /** `scope|key|width|bucket` → increment, summed so that one upsert per key suffices. */
  counters: Map<string, number>;
}

const DAY = 86_400_000;
const HOUR = 3_600_000;
const MINUTE = 60_000;
const BATCH = 10_000;

// Ids ascend (a random run prefix, a table letter, then the certificate's index): appending to each
// index keeps growing a store to a million certificates to minutes. Lookups cost the same as on the
// server's random ids. A certificate's id follows from its index, so its successor's is known
// when it is written and no row is updated afterwards.
const run = randomBytes(4).toString('hex');
const idOf = (table: string, i: number, sub = 0): string => `${run}${table}${i.toString(36).padStart(8, '0')}${sub ? `-${sub}` : ''}`;
const noise = randomBytes(1 << 20);
const token = (i: number): string => noise.subarray((i * 32) % (noise.length - 32), ((i * 32) % (noise.length - 32)) + 32).toString('base64url');
const serialOf = (i: number): string => `7${run}${i.toString(16).padStart(23, '0')}`;

export async function preloadStore(o: PreloadOptions): Promise<{ inserted: number; seconds: number }> {
  const started = Date.now();
  const sink = await openSink(o.target);
  try {
    const seed = await sink.seed();
    const plan = new RowPlan(seed, o);
    for (let from = 0; from < o.certificates; from += BATCH) {
      await sink.write(plan.batch(from, Math.min(o.certificates, from + BATCH)));
      if (o.log && (from / BATCH) % 20 === 0) o.log(`preload: ${Math.min(o.certificates, from + BATCH)} / ${o.certificates}`);
    }
    await sink.finish();
    return { inserted: o.certificates, seconds: (Date.now() - started) / 1000 };
  } finally {
    await sink.close();
  }
}

class RowPlan {
  private readonly services: number;
  private readonly perAccount: number;
  private readonly generations: number;
  private readonly now = Date.now();
  private readonly lifetime: number;
  private readonly renewalStart: number;
  private readonly renewalEnd: number;

  constructor(private readonly seed: SeedRows, private readonly o: PreloadOptions) {
    this.services = o.services ?? Math.max(1, Math.ceil(o.certificates / 10));
    this.perAccount = o.perAccount ?? 100;
    this.generations = Math.ceil(o.certificates / this.services);
    const c = seed.cert;
    this.lifetime = Number(c.not_after) - Number(c.not_before);
    this.renewalStart = Number(c.renewal_start) - Number(c.not_before);
    this.renewalEnd = Number(c.renewal_end) - Number(c.not_before);
  }

  // Oldest generation first, so each certificate's predecessor exists when it is written.
  batch(from: number, to: number): Batch {
    const b: Batch = { accounts: [], orders: [], authzs: [], challenges: [], orderAuthzs: [], serials: [], certificates: [], names: [], ocsp: [], counters: new Map() };
    const { seed, services, perAccount, now, lifetime } = this;
    const cert = seed.cert;
    const count = (scope: string, key: string, width: number, at: number) => {
      const k = `${scope}|${key}|${width}|${Math.floor(at / width)}`;
      b.counters.set(k, (b.counters.get(k) ?? 0) + 1);
    };
    for (let i = from; i < to; i++) {
      const generation = Math.floor(i / services);
      const service = i % services;
      const accountId = idOf('a', Math.floor(service / perAccount));
      if (generation === 0 && service % perAccount === 0) {
        b.accounts.push([accountId, 'valid', seed.account.jwk, `preload-${accountId}`, '[]', true, now - this.generations * DAY]);
      }
      const name = `svc-${service}.preload.test`;
      // Services renew at their own time of day, so issuance and expiry spread over each day.
      const issuedAt = now - (this.generations - 1 - generation) * DAY - ((service * 7919) % (DAY - HOUR)) - HOUR;
      const notBefore = issuedAt - MINUTE;
      const notAfter = notBefore + lifetime;
      const orderId = idOf('o', i);
      const authzId = idOf('z', i);
      const certId = idOf('c', i);
      const serial = serialOf(i);
      const identifiers = JSON.stringify([{ type: 'dns', value: name }]);
      b.orders.push([orderId, accountId, 'valid', identifiers, seed.order.profile, issuedAt + 23 * HOUR, issuedAt - 2_000, certId]);
      b.authzs.push([authzId, accountId, 'dns', name, false, 'valid', issuedAt + 7 * DAY, issuedAt - 2_000, issuedAt - 1_000]);
      seed.challenges.forEach((c, position) => {
        const validated = c.status === 'valid';
        b.challenges.push([idOf('h', i, position + 1), authzId, position, c.type, token(i * 4 + position), c.status, validated ? issuedAt - 1_000 : null, validated ? c.validation_record : null, validated ? c.validation_record_packed : null, validated ? issuedAt - 1_000 : null]);
      });
      b.orderAuthzs.push([orderId, 0, authzId]);
      b.serials.push([serial, cert.issuer_id, orderId, issuedAt - 500]);
      const predecessor = generation > 0 ? idOf('c', i - services) : null;
      const successor = i + services < this.o.certificates ? idOf('c', i + services) : null;
      b.certificates.push([
        certId, serial, cert.issuer_id, accountId, orderId, cert.profile, identifiers, notBefore, notAfter, cert.der, '', cert.chain_id,
        cert.spki_sha256, issuedAt, i % 16, cert.profile_hash, notBefore + this.renewalStart, notBefore + this.renewalEnd, predecessor, successor,
      ]);
      b.names.push([name, issuedAt, certId]);
      // Retention drops an expired certificate's answer a response lifetime after notAfter.
      if (seed.ocsp && notAfter > now - lifetime) {
        const live = notAfter > now;
        b.ocsp.push([certId, seed.ocsp.der, issuedAt, issuedAt + lifetime, false, live ? issuedAt + lifetime / 2 : null]);
      }
      if (issuedAt > now - 8 * DAY) {
        for (const width of [MINUTE, HOUR]) {
          count('issued:account', accountId, width, issuedAt);
          count('issued:profile', String(cert.profile), width, issuedAt);
        }
      }
      if (notAfter > now) {
        count('expires', String(cert.issuer_id), HOUR, notAfter);
        count('expires:live', String(cert.issuer_id), HOUR, notAfter);
      }
    }
    return b;
  }
}
