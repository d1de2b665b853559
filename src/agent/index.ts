/**
 * `anvil-ca/agent`: the fleet side of rotation as a library. Construct an Agent from a checked
 * configuration (loadAgentConfig / parseAgentConfig), then start() it, or runOnce() for cron.
 */
export { Agent, createAgentLogger, statusOf, type AgentOptions, type CertificateStatus } from './agent.js';
export type { AgentEvent } from './certificate-worker.js';
export { AgentConfigError, loadAgentConfig, parseAgentConfig, type AgentConfig, type CertificateIntent, type ReloadAction } from './config.js';
export { backoffCap, backoffDelay, clampRetryAfter, fallbackRenewalTime, pickInWindow, type RandomSource, type Window } from './scheduler.js';
export { installVersion, currentVersion, pruneVersions } from './atomic-writer.js';
export { chainsToBundle, keyMatches, leafInfo } from './cert-info.js';
export { formatStatus, readStatus } from './status-report.js';
