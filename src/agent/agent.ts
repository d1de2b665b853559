/**
 * The agent: certificate workers over one endpoint pool, one trust bundle keeper, one metrics
 * registry and an optional health/metrics listener. `start()` runs until `stop()`; `runOnce()`
 * does one pass (for cron and CI). Every worker sleeps until its next due time.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';
import { AcmeSession, type ChallengeSolver } from './acme-session.js';
import { CertificateWorker, windowEndOf, windowStartOf, type AgentEvent } from './certificate-worker.js';
import { acquireHttp01Responder, tokenCommandSolver, webrootSolver } from './challenge-solvers.js';
import type { AgentConfig } from './config.js';
import { EndpointPool, type Endpoint } from './endpoint-pool.js';
import { startHealthListener, type HealthListener } from './health-listener.js';
import { AgentMetrics } from './metrics.js';
import { MAX_TIMER_MS, type RandomSource } from './scheduler.js';
import { StateDir } from './state.js';
import { TrustBundleKeeper } from './trust-bundle.js';

/** Options for embedding the agent. */
export interface AgentOptions {
  config: AgentConfig;
  /** pino logger; default: JSON lines on stdout at `config.logLevel`. */
  logger?: Logger;
  /** Random source in [0, 1) for window picks and jitter; default crypto-backed. */
  random?: RandomSource;
  /** Called (and awaited) on each agent event. */
  onEvent?: (event: AgentEvent) => void | Promise<void>;
}

/** One certificate's status, as `anvil agent status` prints it. */
export interface CertificateStatus {
  id: string;
  names: string[];
  serial?: string | undefined;
  notAfter?: number | undefined;
  windowStart?: number | undefined;
  windowEnd?: number | undefined;
  nextRenewal?: number | undefined;
  lastAttempt?: number | undefined;
  lastSuccess?: number | undefined;
  lastError?: string | undefined;
  failures: number;
  endpoint?: string | undefined;
  reloadPending: boolean;
  /** The operator's fallback credential, while it is installed instead of a CA-issued certificate. */
  fallback?: { serial: string; notAfter: number; since: number } | undefined;
  /** Why the fallback credential could not be installed when it was due. */
  fallbackError?: string | undefined;
  /** ok, failing (renewal errors inside the window), overdue (failing past it), expired, or fallback (the operator's credential is in place). */
  health: 'ok' | 'failing' | 'overdue' | 'expired' | 'fallback';
}

const cryptoRandom: RandomSource = () => randomBytes(6).readUIntBE(0, 6) / 2 ** 48;

/** Creates the agent's logger: pino JSON, with credentials redacted should one ever reach a field. */
export function createAgentLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'anvil-agent' },
    redact: { paths: ['key', '*.key', 'privateKey', '*.privateKey', 'hmacKey', '*.hmacKey', 'token', '*.token', 'authorization', '*.authorization'], censor: '[redacted]' },
  });
}

/** Reads the account key, creating a P-256 key (mode 0600) on first use. */
function accountKey(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8');
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey;
  writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  return pem;
}

export class Agent {
  readonly metrics = new AgentMetrics();
  readonly log: Logger;
  readonly workers: CertificateWorker[];
  private readonly pool: EndpointPool;
  private readonly sessions = new Map<string, AcmeSession>();
  private readonly bundle: TrustBundleKeeper | undefined;
  private readonly random: RandomSource;
  private solverHandle: { solver: ChallengeSolver; release(): Promise<void> } | undefined;
  private solver: ChallengeSolver | undefined;
  private health: HealthListener | undefined;
  private timers = new Map<string, NodeJS.Timeout>();
  private running = new Map<string, Promise<void>>();
  private stopped = true;

  constructor(private readonly options: AgentOptions) {
    const { config } = options;
    this.log = options.logger ?? createAgentLogger(config.logLevel);
    this.random = options.random ?? cryptoRandom;
    this.pool = new EndpointPool(config.ca.directories, config.ca.order, { failures: config.ca.breaker.failures, cooldownMs: config.ca.breaker.cooldown }, this.random);
    const stateDir = new StateDir(config.stateDir);
    this.bundle = config.trustBundle ? new TrustBundleKeeper(config.trustBundle, stateDir, this.metrics, this.log, () => this.trust(), config.ca.requestTimeout) : undefined;
    const ctx = {
      config,
      pool: this.pool,
      session: (e: Endpoint) => this.session(e),
      solver: () => this.currentSolver(),
      bundle: this.bundle,
      stateDir,
      metrics: this.metrics,
      log: this.log,
      random: this.random,
      emit: async (event: AgentEvent) => {
        await options.onEvent?.(event);
      },
    };
    this.workers = config.certificates.map((intent) => new CertificateWorker(intent, ctx));
  }

  /** The PEM the agent trusts for TLS to its CAs: the CA file plus the trust bundle's roots. */
  private trust(): string | undefined {
    const parts: string[] = [];
    const { caFile } = this.options.config.ca;
    if (caFile) parts.push(readFileSync(caFile, 'utf8'));
    if (this.bundle) parts.push(this.bundle.content());
    const pem = parts.join('\n').trim();
    return pem ? `${pem}\n` : undefined;
  }

  private currentSolver(): ChallengeSolver {
    if (this.solverHandle) return this.solverHandle.solver;
    if (this.solver) return this.solver;
    const http01 = this.options.config.challenge.http01;
    // The http-01 listener starts on first use, so `status` and an idle agent bind nothing.
    if (http01?.listen) {
      this.solverHandle = acquireHttp01Responder(http01.listen);
      return this.solverHandle.solver;
    }
    if (http01?.webroot) {
      this.solver = webrootSolver(http01.webroot);
      return this.solver;
    }
    const command = this.options.config.account.tokenCommand;
    if (command) {
      const first = this.pool.endpoints[0]!;
      this.solver = tokenCommandSolver(command, () => this.session(first).thumbprint(), this.options.config.ca.requestTimeout);
      return this.solver;
    }
    throw new Error('no challenge method configured (challenge.http01 or account.tokenCommand)');
  }

  private session(endpoint: Endpoint): AcmeSession {
    let s = this.sessions.get(endpoint.url);
    if (!s) {
      const { config } = this.options;
      const eab = config.account.eab ? { kid: config.account.eab.kid, hmacKey: readFileSync(config.account.eab.hmacKeyFile, 'utf8').trim() } : undefined;
      s = new AcmeSession(endpoint.url, {
        accountKeyPem: accountKey(config.account.keyFile),
        contact: config.account.contact,
        eab,
        ca: this.trust(),
        timeoutMs: config.ca.requestTimeout,
        pollMs: config.timing.pollInterval,
      });
      this.sessions.set(endpoint.url, s);
    } else {
      s.setTrust(this.trust());
    }
    return s;
  }

  /** Starts the health/metrics listener (if configured) and every worker's schedule. */
  async start(): Promise<void> {
    this.stopped = false;
    const listen = this.options.config.listen;
    if (listen) this.health = await startHealthListener(listen, this);
    this.log.info({ event: 'agent-started', certificates: this.workers.map((w) => w.intent.id), endpoints: this.pool.endpoints.map((e) => e.url) }, 'agent started');
    for (const w of this.workers) this.schedule(w, Date.now());
    if (this.bundle) this.refreshBundleLoop();
  }

  /** Refreshes the trust bundle from the endpoint in use every `trustBundle.refresh` (and at start). */
  private refreshBundleLoop(): void {
    if (this.stopped || !this.bundle) return;
    const endpoint = this.pool.current ?? this.pool.candidates()[0]!;
    const run = this.bundle
      .refresh(endpoint.url)
      .catch((error: unknown) => this.log.warn({ event: 'trust-bundle-refresh-failed', endpoint: endpoint.url, err: (error as Error).message }, 'trust bundle refresh failed'))
      .then(() => {
        this.running.delete('#bundle');
        if (this.stopped) return;
        const timer = setTimeout(() => this.refreshBundleLoop(), this.options.config.trustBundle!.refresh);
        this.timers.set('#bundle', timer);
      });
    this.running.set('#bundle', run);
  }

  /** The health listener's address (when listening). */
  get healthAddress(): { host: string; port: number } | undefined {
    return this.health?.address;
  }

  private schedule(worker: CertificateWorker, at: number): void {
    if (this.stopped) return;
    const id = worker.intent.id;
    clearTimeout(this.timers.get(id));
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now()));
    const timer = setTimeout(() => {
      this.timers.delete(id);
      const run = worker
        .step()
        .catch((error: unknown) => {
          this.log.error({ event: 'worker-error', id, err: (error as Error).message }, 'unexpected error in the certificate loop');
          return Date.now() + this.options.config.timing.backoffInitial;
        })
        .then((next) => {
          this.running.delete(id);
          this.schedule(worker, next);
        });
      this.running.set(id, run);
    }, delay);
    this.timers.set(id, timer);
    worker.updateGauges();
  }

  /** One pass over every certificate: renew what is due (or everything with `force`). True when all are healthy. */
  async runOnce(options: { force?: boolean } = {}): Promise<boolean> {
    for (const w of this.workers) {
      try {
        await w.step(Date.now(), options.force ?? false);
      } catch (error) {
        this.log.error({ event: 'worker-error', id: w.intent.id, err: (error as Error).message }, 'unexpected error');
      }
    }
    return this.status().every((s) => s.health === 'ok');
  }

  /** Each certificate's status. */
  status(now = Date.now()): CertificateStatus[] {
    return this.workers.map((w) => statusOf(w, now));
  }

  /** Stops timers, waits for running passes, closes listeners. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.all([...this.running.values()]);
    await this.health?.close();
    await this.solverHandle?.release();
    this.solverHandle = undefined;
  }
}

/** A worker's status line. */
export function statusOf(w: CertificateWorker, now = Date.now()): CertificateStatus {
  const s = w.state;
  const health = s.fallback ? 'fallback' : w.expired(now) ? 'expired' : w.overdue(now) ? 'overdue' : s.failures > 0 || s.reloadPending ? 'failing' : 'ok';
  return {
    id: w.intent.id,
    names: w.intent.names,
    serial: s.serial,
    notAfter: s.notAfter,
    windowStart: windowStartOf(s),
    windowEnd: s.notAfter ? windowEndOf(s) : undefined,
    nextRenewal: s.failures > 0 ? s.nextAttempt : (s.ari?.pick ?? s.fallbackAt),
    lastAttempt: s.lastAttempt,
    lastSuccess: s.lastSuccess,
    lastError: s.lastError ?? s.lastReloadError,
    failures: s.failures,
    endpoint: s.endpoint,
    reloadPending: Boolean(s.reloadPending),
    fallback: s.fallback ? { serial: s.fallback.serial, notAfter: s.fallback.notAfter, since: s.fallback.since } : undefined,
    fallbackError: s.fallbackError,
    health,
  };
}
