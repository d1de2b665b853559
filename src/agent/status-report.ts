/** `anvil agent status`: every certificate's state, read from the state directory, as text or JSON. */
import { pino } from 'pino';
import { Agent, type CertificateStatus } from './agent.js';
import type { AgentConfig } from './config.js';

/** The status of each configured certificate, from the state directory (no network, no listener). */
export function readStatus(config: AgentConfig, now = Date.now()): CertificateStatus[] {
  return new Agent({ config, logger: pino({ level: 'silent' }) }).status(now);
}

const iso = (t: number | undefined): string => (t ? new Date(t).toISOString() : '-');

/** Human-readable lines, one block per certificate. */
export function formatStatus(statuses: CertificateStatus[]): string {
  return statuses
    .map((s) =>
      [
        `${s.id} [${s.health}] ${s.names.join(', ')}`,
        `  serial ${s.serial ?? '-'}; expires ${iso(s.notAfter)}`,
        `  renewal window ${iso(s.windowStart)} – ${iso(s.windowEnd)}; next renewal ${iso(s.nextRenewal)}`,
        `  last attempt ${iso(s.lastAttempt)}; last success ${iso(s.lastSuccess)}; consecutive failures ${s.failures}; endpoint ${s.endpoint ?? '-'}${s.reloadPending ? '; reload pending' : ''}`,
        ...(s.fallback ? [`  FALLBACK credential installed since ${iso(s.fallback.since)} (serial ${s.fallback.serial}, expires ${iso(s.fallback.notAfter)}); the CA-issued certificate expires ${iso(s.notAfter)}; renewal keeps trying`] : []),
        ...(s.fallbackError ? [`  fallback credential not installed: ${s.fallbackError}`] : []),
        ...(s.lastError && (s.failures > 0 || s.reloadPending) ? [`  last error: ${s.lastError}`] : []),
      ].join('\n'),
    )
    .join('\n');
}
