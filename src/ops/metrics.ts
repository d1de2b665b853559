/**
 * Prometheus metrics (prom-client), served as text at /metrics on the admin listener. One registry
 * per process; parts of Anvil record into the named instruments below.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'anvil_' });

/** Values computed at scrape time from the store; app.ts installs them. */
export interface ScrapeSources {
  crlAges(): Promise<{ issuer: string; shard: string; ageSeconds: number }[]>;
  expiringWithin24h(): Promise<number>;
  anomalies(): Record<string, number>;
}
let sources: ScrapeSources | undefined;
export function setScrapeSources(s: ScrapeSources | undefined): void {
  sources = s;
}

let loopDelay: IntervalHistogram | undefined;
let worstLoopDelayNs = 0;

/** Starts measuring event-loop stalls (the serving process calls it once). */
export function startEventLoopMonitor(): void {
  if (loopDelay) return;
  loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
}

/** The longest event-loop delay since the last call (and since start), in milliseconds. */
export function takeEventLoopDelay(): { recentMs: number; worstMs: number } {
  if (!loopDelay) return { recentMs: 0, worstMs: 0 };
  const recent = loopDelay.max;
  loopDelay.reset();
  worstLoopDelayNs = Math.max(worstLoopDelayNs, recent);
  return { recentMs: recent / 1e6, worstMs: worstLoopDelayNs / 1e6 };
}

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const metrics = {
  issuanceSeconds: new Histogram({
    name: 'anvil_issuance_seconds',
    help: 'Time from finalize to a recorded certificate, by profile',
    labelNames: ['profile'],
    buckets: SECONDS,
    registers: [registry],
  }),
  ordersCreated: new Counter({ name: 'anvil_orders_created_total', help: 'New orders, by profile', labelNames: ['profile'], registers: [registry] }),
  ordersFinal: new Counter({
    name: 'anvil_orders_final_total',
    help: 'Orders reaching a final status (valid: certificate issued; invalid: a validation or finalization failed)',
    labelNames: ['status'],
    registers: [registry],
  }),
  authorizationsFinal: new Counter({
    name: 'anvil_authorizations_final_total',
    help: 'Authorizations reaching a final status',
    labelNames: ['status'],
    registers: [registry],
  }),
  validations: new Counter({ name: 'anvil_validations_total', help: 'Challenge validations, by type and result', labelNames: ['type', 'result'], registers: [registry] }),
  certificatesIssued: new Counter({ name: 'anvil_certificates_issued_total', help: 'Certificates issued', labelNames: ['profile', 'issuer'], registers: [registry] }),
  certificatesRevoked: new Counter({ name: 'anvil_certificates_revoked_total', help: 'Certificates revoked, by reason code', labelNames: ['reason'], registers: [registry] }),
  ocspRequests: new Counter({
    name: 'anvil_ocsp_requests_total',
    help: 'OCSP requests, by method and outcome (presigned, signed, or the OCSP error status)',
    labelNames: ['method', 'outcome'],
    registers: [registry],
  }),
  ocspResponseAge: new Histogram({
    name: 'anvil_ocsp_response_age_seconds',
    help: 'Age (now - thisUpdate) of OCSP responses served',
    buckets: [1, 60, 600, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 7 * 24 * 3600],
    registers: [registry],
  }),
  crlRequests: new Counter({ name: 'anvil_crl_requests_total', help: 'CRL downloads', labelNames: ['kind'], registers: [registry] }),
  crlAge: new Gauge({
    name: 'anvil_crl_age_seconds',
    // Read from the shared store (or a worst case): under --workers the same in every worker.
    aggregator: 'max',
    help: 'Age of the newest CRL of each issuer and shard',
    labelNames: ['issuer', 'shard'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const c of (await sources?.crlAges()) ?? []) this.set({ issuer: c.issuer, shard: c.shard }, c.ageSeconds);
    },
  }),
  crlPublished: new Counter({ name: 'anvil_crl_published_total', help: 'CRLs signed and stored', labelNames: ['issuer'], registers: [registry] }),
  nonceRejections: new Counter({ name: 'anvil_nonce_rejections_total', help: 'badNonce refusals, by reason', labelNames: ['reason'], registers: [registry] }),
  problems: new Counter({ name: 'anvil_problems_total', help: 'ACME problem documents served, by type', labelNames: ['type'], registers: [registry] }),
  rateLimited: new Counter({ name: 'anvil_rate_limited_total', help: 'Requests refused by a rate limit', labelNames: ['limit'], registers: [registry] }),
  storeSeconds: new Histogram({ name: 'anvil_store_seconds', help: 'Store call latency, by method', labelNames: ['method'], buckets: SECONDS, registers: [registry] }),
  storeErrors: new Counter({ name: 'anvil_store_errors_total', help: 'Store calls that threw', labelNames: ['method'], registers: [registry] }),
  signerSeconds: new Histogram({ name: 'anvil_signer_seconds', help: 'Signature latency, by key store kind', labelNames: ['kind'], buckets: SECONDS, registers: [registry] }),
  signerErrors: new Counter({ name: 'anvil_signer_errors_total', help: 'Signatures that failed or timed out, by key store kind', labelNames: ['kind'], registers: [registry] }),
  certificatesExpiring: new Gauge({
    name: 'anvil_certificates_expiring',
    // Read from the shared store (or a worst case): under --workers the same in every worker.
    aggregator: 'max',
    help: 'Unrevoked certificates expiring within the window',
    labelNames: ['within'],
    registers: [registry],
    async collect() {
      if (sources) this.set({ within: '24h' }, await sources.expiringWithin24h());
    },
  }),
  eventLoopDelay: new Gauge({
    name: 'anvil_event_loop_max_delay_seconds',
    // Read from the shared store (or a worst case): under --workers the same in every worker.
    aggregator: 'max',
    help: 'Longest event-loop delay (timer lateness at 10 ms resolution): since the previous scrape, and since start',
    labelNames: ['since'],
    registers: [registry],
    collect() {
      const d = takeEventLoopDelay();
      this.set({ since: 'last-scrape' }, d.recentMs / 1000);
      this.set({ since: 'start' }, d.worstMs / 1000);
    },
  }),
  anomalies: new Gauge({
    name: 'anvil_anomalies',
    // Read from the shared store (or a worst case): under --workers the same in every worker.
    aggregator: 'max',
    help: 'Current anomaly findings, by kind',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [kind, n] of Object.entries(sources?.anomalies() ?? {})) this.set({ kind }, n);
    },
  }),
};

/**
 * Wraps every async method of an object to time it into a histogram (used for the store). Each
 * method is wrapped once, with its label children resolved once: the store is called several
 * times per request, and prom-client's label lookup per call showed in profiles.
 */
export function timed<T extends object>(target: T, histogram: Histogram<'method'>, errors: Counter<'method'>): T {
  const wrapped = new Map<string, unknown>();
  const wrap = (prop: string, fn: (...a: unknown[]) => unknown): unknown => {
    const timer = histogram.labels({ method: prop });
    const failures = errors.labels({ method: prop });
    return (...args: unknown[]) => {
      const started = process.hrtime.bigint();
      const end = (): void => timer.observe(Number(process.hrtime.bigint() - started) / 1e9);
      let result: unknown;
      try {
        result = fn.apply(target, args);
      } catch (e) {
        failures.inc();
        end();
        throw e;
      }
      if (result instanceof Promise) {
        return result.then(
          (v) => (end(), v),
          (e: unknown) => {
            failures.inc();
            end();
            throw e;
          },
        );
      }
      end();
      return result;
    };
  };
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown;
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      let w = wrapped.get(prop);
      if (!w) wrapped.set(prop, (w = wrap(prop, value as (...a: unknown[]) => unknown)));
      return w;
    },
  });
}
