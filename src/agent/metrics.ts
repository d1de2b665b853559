/**
 * The agent's Prometheus metrics, on a Registry of its own (never prom-client's global one), so
 * that many agents embedded in one process each report their own certificates.
 */
import { Counter, Gauge, Registry } from 'prom-client';

/** The gauges and counters of one agent. */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly expiry = new Gauge({ name: 'anvil_agent_certificate_expiry_timestamp_seconds', help: 'notAfter of the installed certificate', labelNames: ['id'], registers: [this.registry] });
  readonly windowStart = new Gauge({ name: 'anvil_agent_renewal_window_start_timestamp_seconds', help: 'Start of the renewal window (ARI, or the ⅔-lifetime fallback)', labelNames: ['id'], registers: [this.registry] });
  readonly lastSuccess = new Gauge({ name: 'anvil_agent_last_success_timestamp_seconds', help: 'Last successful renewal', labelNames: ['id'], registers: [this.registry] });
  readonly failures = new Gauge({ name: 'anvil_agent_consecutive_failures', help: 'Renewal attempts failed in a row', labelNames: ['id'], registers: [this.registry] });
  readonly expired = new Gauge({ name: 'anvil_agent_certificate_expired', help: '1 while the installed certificate is past notAfter (or missing)', labelNames: ['id'], registers: [this.registry] });
  readonly overdue = new Gauge({ name: 'anvil_agent_renewal_overdue', help: '1 while renewal is failing past the end of the renewal window', labelNames: ['id'], registers: [this.registry] });
  readonly fallbackActive = new Gauge({ name: 'anvil_agent_fallback_active', help: '1 while the operator-provided fallback credential is installed instead of a CA-issued certificate', labelNames: ['id'], registers: [this.registry] });
  readonly endpoint = new Gauge({ name: 'anvil_agent_current_endpoint', help: '1 for the CA endpoint that last served this certificate', labelNames: ['id', 'endpoint'], registers: [this.registry] });
  readonly endpointUp = new Gauge({ name: 'anvil_agent_endpoint_up', help: '0 while an endpoint\'s circuit breaker is open', labelNames: ['endpoint'], registers: [this.registry] });
  readonly renewals = new Counter({ name: 'anvil_agent_renewals_total', help: 'Renewal attempts by outcome', labelNames: ['id', 'outcome'], registers: [this.registry] });
  readonly ariFetches = new Counter({ name: 'anvil_agent_ari_fetches_total', help: 'ARI (renewalInfo) requests', labelNames: ['id'], registers: [this.registry] });
  readonly reloads = new Counter({ name: 'anvil_agent_reloads_total', help: 'Reload actions by target and outcome', labelNames: ['target', 'outcome'], registers: [this.registry] });
  readonly bundleFetches = new Counter({ name: 'anvil_agent_trust_bundle_fetches_total', help: 'Trust bundle requests by outcome (changed, unchanged, error)', labelNames: ['outcome'], registers: [this.registry] });
}
