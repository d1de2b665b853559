/**
 * The CA endpoints as a failover pool. Each directory URL has a circuit breaker: after
 * `failures` consecutive transport or server failures it opens and the endpoint is skipped until
 * `cooldown` has passed, then one trial decides. When every breaker is open the agent still tries
 * them all (earliest cool-down first): a pool that refuses to try would turn an outage into a
 * longer outage than the CA's.
 */
import { CircuitBreaker } from '../ops/circuit-breaker.js';
import type { RandomSource } from './scheduler.js';

/** One CA endpoint and its breaker. */
export interface Endpoint {
  readonly url: string;
  readonly index: number;
  readonly breaker: CircuitBreaker;
}

/** The endpoints in the order to try them now. */
export class EndpointPool {
  readonly endpoints: Endpoint[];
  private readonly start: number;
  private lastGood: number | undefined;

  constructor(urls: string[], order: 'in-order' | 'first-random', breaker: { failures: number; cooldownMs: number }, random: RandomSource) {
    this.endpoints = urls.map((url, index) => ({ url, index, breaker: new CircuitBreaker(breaker.failures, breaker.cooldownMs) }));
    this.start = order === 'first-random' ? Math.floor(random() * urls.length) : 0;
  }

  /** Endpoints whose breaker lets a call through, in pool order, then the open ones. */
  candidates(now = Date.now()): Endpoint[] {
    const rotated = [...this.endpoints.slice(this.start), ...this.endpoints.slice(0, this.start)];
    const allowed: Endpoint[] = [];
    const held: Endpoint[] = [];
    for (const e of rotated) (e.breaker.allow(now) ? allowed : held).push(e);
    return [...allowed, ...held];
  }

  succeeded(endpoint: Endpoint): void {
    endpoint.breaker.success();
    this.lastGood = endpoint.index;
  }

  failed(endpoint: Endpoint, now = Date.now()): void {
    endpoint.breaker.failure(now);
  }

  /** The endpoint that last answered, if any. */
  get current(): Endpoint | undefined {
    return this.lastGood === undefined ? undefined : this.endpoints[this.lastGood];
  }
}
