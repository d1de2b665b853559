/**
 * CRLs (RFC 5280 §5), per issuer: one CRL per shard (the URL each certificate's CRL Distribution
 * Point names, with a matching critical Issuing Distribution Point) plus a full CRL. Each is
 * signed by the issuer with a CRL number that only grows, and stored, so every instance serves
 * the same bytes. Shards a revocation touched are re-published within `revocationDelayMs`; every
 * CRL is re-published when half its lifetime has passed. An entry leaves after it has appeared on one
 * CRL issued after the certificate expired (RFC 5280 §3.3).
 */
import type { Logger } from 'pino';
import type { Extension } from '@peculiar/asn1-x509';
import type { Issuer } from '../ca/issuer.js';
import { wrapSigned } from '../ca/certificate-builder.js';
import { authorityKeyIdentifier, crlNumber, issuingDistributionPoint } from '../ca/extensions.js';
import type { Store } from '../store/store.js';
import { FULL_CRL, type StoredCrl } from '../store/types.js';
import { encodeCrlEntry, encodeTbsCertList } from './crl-encoding.js';
import { metrics } from '../ops/metrics.js';
import { wholeSeconds } from './ocsp-messages.js';

export interface CrlServiceOptions {
  store: Store;
  issuers(): Issuer[];
  shards: number;
  lifetimeMs: number;
  revocationDelayMs: number;
  shardUrl(issuerId: string, shard: number): string;
  log: Logger;
  /** False while another instance holds the publication lease (then this one publishes nothing). */
  mayRun?(): boolean;
}

export class CrlService {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private ticking = false;
  private kicked = false;
  private stopped = false;
  /** One publication at a time per CRL, so numbers and stored bytes stay in step. */
  private readonly inFlight = new Map<string, Promise<StoredCrl>>();

  constructor(private readonly o: CrlServiceOptions) {}

  /** Builds, signs and stores the CRL of one shard (or FULL_CRL) of an issuer. */
  publish(issuer: Issuer, shard: number): Promise<StoredCrl> {
    const key = `${issuer.id}/${shard}`;
    const pending = this.inFlight.get(key);
    if (pending) return pending.then(() => this.publish(issuer, shard));
    const work = this.build(issuer, shard).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, work);
    return work;
  }

  /** The stored CRL, publishing it first if there is none or it is past its nextUpdate. */
  async get(issuer: Issuer, shard: number): Promise<StoredCrl> {
    const stored = await this.o.store.getCrl(issuer.id, shard);
    if (stored && stored.nextUpdate.getTime() > Date.now()) return stored;
    return this.publish(issuer, shard);
  }

  /** Publishes dirty shards and CRLs past half their lifetime; runs every revocationDelay. */
  async tick(): Promise<void> {
    const started = new Date();
    const issuers = new Map(this.o.issuers().map((i) => [i.id, i]));
    for (const dirty of await this.o.store.listDirtyCrlShards()) {
      const issuer = issuers.get(dirty.issuerId);
      if (!issuer) continue;
      await this.publish(issuer, dirty.shard);
      await this.o.store.clearDirtyCrlShard(dirty.issuerId, dirty.shard, started);
    }
    const refreshBefore = started.getTime() + this.o.lifetimeMs / 2;
    for (const issuer of issuers.values()) {
      for (const shard of [FULL_CRL, ...Array.from({ length: this.o.shards }, (_, i) => i)]) {
        const stored = await this.o.store.getCrl(issuer.id, shard);
        if (!stored || stored.nextUpdate.getTime() < refreshBefore) await this.publish(issuer, shard);
      }
    }
  }

  /** Wakes the publisher now (after a revocation in this process). */
  kick(): void {
    if (!this.timer) return; // stopped
    if (this.ticking) {
      this.kicked = true; // the running tick reschedules at once when it ends
      return;
    }
    clearTimeout(this.timer);
    this.schedule(0);
  }

  /** Publishing starts after any revocation recorded without its CRL entry has been given one. */
  start(): void {
    this.running = this.backfillEntries()
      .catch((e) => this.o.log.error({ err: (e as Error).message }, 'encoding missing CRL entries failed'))
      .finally(() => {
        if (!this.stopped) this.schedule(0);
      });
  }

  private async backfillEntries(): Promise<void> {
    for (;;) {
      const missing = await this.o.store.listRevokedWithoutCrlEntry(1000);
      if (missing.length === 0) return;
      for (const e of missing) await this.o.store.saveCrlEntry(e.serial, encodeCrlEntry(e));
      this.o.log.info({ entries: missing.length }, 'encoded CRL entries of earlier revocations');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One timer chain: each tick schedules the next when it ends, so ticks never overlap. */
  private schedule(delay: number): void {
    this.timer = setTimeout(() => {
      this.ticking = true;
      // Only the holder of the `crl` lease publishes (CRL numbers come from the store either way).
      this.running = (this.o.mayRun?.() === false ? Promise.resolve() : this.tick())
        .catch((e) => this.o.log.error({ err: (e as Error).message }, 'CRL publication failed'))
        .finally(() => {
          this.ticking = false;
          const again = this.kicked ? 0 : this.o.revocationDelayMs;
          this.kicked = false;
          if (this.timer) this.schedule(again);
        });
    }, delay);
    this.timer.unref();
  }

  private async build(issuer: Issuer, shard: number): Promise<StoredCrl> {
    const now = wholeSeconds(new Date());
    const nextUpdate = wholeSeconds(new Date(now.getTime() + this.o.lifetimeMs));
    // RFC 5280 §3.3: an entry stays until it has appeared on one CRL issued after the certificate
    // expired, i.e. it is dropped only if it had already expired when the previous CRL was issued.
    const previous = await this.o.store.getCrl(issuer.id, shard);
    const entries = await this.o.store.crlEntries(issuer.id, shard, previous ? previous.thisUpdate : now);
    const number = await this.o.store.allocateCrlNumber(issuer.id);
    const extensions: Extension[] = [authorityKeyIdentifier(issuer.keyId), crlNumber(number)];
    if (shard !== FULL_CRL) extensions.push(issuingDistributionPoint(this.o.shardUrl(issuer.id, shard)));
    const tbsDer = encodeTbsCertList({
      signature: issuer.signer.scheme.identifier(),
      issuer: issuer.subject,
      thisUpdate: now,
      nextUpdate,
      entries,
      extensions,
    });
    const der = wrapSigned(tbsDer, issuer.signer.scheme, await issuer.signer.sign(tbsDer));
    const crl: StoredCrl = { issuerId: issuer.id, shard, number, thisUpdate: now, nextUpdate, der };
    await this.o.store.saveCrl(crl);
    metrics.crlPublished.inc({ issuer: issuer.id });
    this.o.log.debug({ issuer: issuer.id, shard, number, entries: entries.count }, 'CRL published');
    return crl;
  }
}
