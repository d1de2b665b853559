/**
 * One-at-a-time work across every process and instance sharing a store. The keeper takes or
 * renews a lease per task in the store every third of the lease's life and records this
 * instance's heartbeat; a task's tick runs only while the keeper holds its lease with a margin
 * to spare, so when a holder dies another instance takes the work over within about 1⅓ leases.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { CoordinationStore } from '../store/store.js';

export const PERIODIC_TASKS = ['crl', 'ocsp-refresh', 'anomalies', 'maintenance'] as const;
export type PeriodicTask = (typeof PERIODIC_TASKS)[number];

export interface LeaseKeeperOptions {
  store: CoordinationStore;
  log: Logger;
  tasks?: readonly string[];
  /** Lease lifetime; default 15 s. */
  ttlMs?: number;
}

export class LeaseKeeper {
  /** This process's identity as a lease holder. */
  readonly instanceId = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly heldUntil = new Map<string, number>();
  private readonly fences = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly ttlMs: number;
  private round: Promise<void> = Promise.resolve();

  constructor(private readonly o: LeaseKeeperOptions) {
    this.ttlMs = o.ttlMs ?? 15_000;
  }

  /** Takes what leases it can at once, then keeps them on a timer. */
  async start(): Promise<void> {
    await this.renew();
    const loop = () => {
      this.timer = setTimeout(() => {
        this.round = this.renew().finally(() => {
          if (this.timer) loop();
        });
      }, this.ttlMs / 3);
      this.timer.unref();
    };
    loop();
  }

  /** Whether this instance may run `task` now (holds its lease with a third of it to spare). */
  holds(task: string): boolean {
    return (this.heldUntil.get(task) ?? 0) - Date.now() > this.ttlMs / 3;
  }

  fence(task: string): number | undefined {
    return this.fences.get(task);
  }

  /** Stops renewing and gives the leases up, so another instance takes over at once. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.round;
    for (const task of this.heldUntil.keys()) await this.o.store.releaseLease(task, this.instanceId).catch(() => undefined);
    this.heldUntil.clear();
  }

  private async renew(): Promise<void> {
    const [host, pid] = [hostname(), process.pid];
    try {
      await this.o.store.heartbeat({ id: this.instanceId, host, pid });
    } catch (e) {
      this.o.log.warn({ err: (e as Error).message }, 'instance heartbeat failed');
    }
    for (const task of this.o.tasks ?? PERIODIC_TASKS) {
      const asked = Date.now();
      try {
        const fence = await this.o.store.acquireLease(task, this.instanceId, this.ttlMs);
        if (fence === null) {
          if (this.heldUntil.delete(task)) this.o.log.warn({ task }, 'lease lost to another instance');
          continue;
        }
        if (this.fences.get(task) !== fence) this.o.log.info({ task, fence, instance: this.instanceId }, 'took the lease of a periodic task');
        this.fences.set(task, fence);
        this.heldUntil.set(task, asked + this.ttlMs);
      } catch (e) {
        // The store is unreachable: stop the task here; the lease runs out and nobody else can
        // take it while the store is down either.
        this.heldUntil.delete(task);
        this.o.log.warn({ task, err: (e as Error).message }, 'lease renewal failed');
      }
    }
  }
}
