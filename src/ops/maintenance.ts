/**
 * Background upkeep on a timer: first the back-fill of rows stored before the current schema
 * (after the server already answers), then retention passes. Every step is one bounded store
 * batch, and the loop gives the event loop back between batches, so no pass holds it for long
 * and none reads more than it purges or moves.
 */
import type { Logger } from 'pino';
import type { CoordinationStore, MaintenanceStore } from '../store/store.js';
import { yieldToEventLoop } from './time-slice.js';

export interface MaintenanceOptions {
  store: MaintenanceStore & Pick<CoordinationStore, 'purgeUsedNonces'>;
  log: Logger;
  /** Expired orders, authorizations, challenges, token ids are purged this long after expiry. */
  retentionMs: number;
  /** Certificates are purged this long after notAfter; 0 keeps them. */
  certificateRetentionMs: number;
  /** Revoked certificates stay until they have left every CRL: this long after notAfter at least. */
  crlRetentionMs: number;
  /** Counter buckets older than this are purged (the longest rate-limit or anomaly window). */
  counterHorizonMs: number;
  /** Pre-signed OCSP answers of expired certificates are dropped this long after notAfter. */
  expiredOcspGraceMs: number;
  /** Pause between retention passes. */
  intervalMs?: number;
  batch?: number;
  /** False while another instance holds the maintenance lease. */
  mayRun?(): boolean;
}

export class Maintenance {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly o: MaintenanceOptions) {}

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One full pass: back-fill, then every retention task, each until it has nothing left. */
  async runOnce(now = new Date()): Promise<{ backfilled: number; purged: number }> {
    const batch = this.o.batch ?? 200;
    const backfilled = await this.drain(() => this.o.store.backfillCertificates(batch, now));
    if (backfilled > 0) this.o.log.info({ certificates: backfilled }, 'moved stored certificates to the indexed form');
    let purged = await this.drain(() => this.o.store.purgeUsedNonces(now, batch));
    purged += await this.drain(() => this.o.store.purgeExpired(new Date(now.getTime() - this.o.retentionMs), batch));
    // An expired certificate's answer is signed on demand if anyone still asks.
    purged += await this.drain(() => this.o.store.purgeExpiredOcsp(new Date(now.getTime() - this.o.expiredOcspGraceMs), batch));
    purged += await this.drain(() => this.o.store.purgeCounters(new Date(now.getTime() - this.o.counterHorizonMs), batch));
    if (this.o.certificateRetentionMs > 0) {
      const cutoff = now.getTime() - this.o.certificateRetentionMs;
      const revokedCutoff = Math.min(cutoff, now.getTime() - this.o.crlRetentionMs);
      purged += await this.drain(() => this.o.store.purgeCertificates(new Date(cutoff), new Date(revokedCutoff), batch));
    }
    if (purged > 0) this.o.log.debug({ rows: purged }, 'retention visited expired records');
    return { backfilled, purged };
  }

  private async drain(step: () => Promise<number>): Promise<number> {
    let total = 0;
    while (!this.stopped && this.o.mayRun?.() !== false) {
      const n = await step();
      total += n;
      if (n === 0) break;
      await yieldToEventLoop();
    }
    return total;
  }

  private schedule(delay: number): void {
    this.timer = setTimeout(() => {
      this.running = (this.o.mayRun?.() === false ? Promise.resolve() : this.runOnce())
        .then(() => undefined)
        .catch((e) => this.o.log.error({ err: (e as Error).message }, 'maintenance pass failed'))
        .finally(() => {
          if (!this.stopped) this.schedule(this.o.intervalMs ?? 60_000);
        });
    }, delay);
    this.timer.unref();
  }
}
