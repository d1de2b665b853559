/**
 * One certificate intent: decides when to renew (ARI, fallback, backoff), renews through the
 * endpoint pool, installs the new version atomically, reloads the service once per version, and
 * prunes versions whose grace window has passed. It never busy-polls: `step()` does what is due
 * and returns when it next has something to do.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AcmeSession, ChallengeSolver, OrderStep } from './acme-session.js';
import { generateCertKey } from './acme-session.js';
import { installVersion, pruneVersions, versionDir } from './atomic-writer.js';
import { keyMatches, leafInfo, splitPem } from './cert-info.js';
import { loadFallbackCredential } from './fallback-credential.js';
import { versionFiles, versionName } from './version-files.js';
import type { AgentConfig, CertificateIntent } from './config.js';
import type { Endpoint, EndpointPool } from './endpoint-pool.js';
import type { AgentMetrics } from './metrics.js';
import { runReload } from './reload.js';
import { backoffDelay, fallbackRenewalTime, keepPick, pickInWindow, type RandomSource } from './scheduler.js';
import type { IntentState, StateDir } from './state.js';
import type { TrustBundleKeeper } from './trust-bundle.js';

/** Something that happened, for embedding tools and tests (awaited before the agent goes on). */
export type AgentEvent =
  | { type: 'renewal-started'; id: string; reason: string }
  | { type: 'order-step'; id: string; endpoint: string; step: OrderStep }
  | { type: 'renewed'; id: string; endpoint: string; version: string; serial: string; notAfter: number }
  | { type: 'renewal-failed'; id: string; error: string; failures: number; nextAttempt: number }
  | { type: 'endpoint-failed'; id: string; endpoint: string; error: string }
  | { type: 'ari-fetched'; id: string; certId: string; window: { start: number; end: number }; pick: number; retryAfterMs: number; checkedAt: number; kept: boolean }
  | { type: 'fallback-installed'; id: string; version: string; serial: string; notAfter: number }
  | { type: 'reloaded'; id: string; version: string }
  | { type: 'reload-failed'; id: string; version: string; error: string };

/** What a worker shares with the others of its agent. */
export interface WorkerContext {
  config: AgentConfig;
  pool: EndpointPool;
  session(endpoint: Endpoint): AcmeSession;
  solver: () => ChallengeSolver;
  bundle: TrustBundleKeeper | undefined;
  stateDir: StateDir;
  metrics: AgentMetrics;
  log: Logger;
  random: RandomSource;
  emit(event: AgentEvent): Promise<void>;
}

const isReplacesProblem = (message: string): boolean => /alreadyReplaced|replaces/i.test(message);

export class CertificateWorker {
  state: IntentState;

  constructor(
    readonly intent: CertificateIntent,
    private readonly ctx: WorkerContext,
  ) {
    this.state = ctx.stateDir.intent(intent.id);
    this.updateGauges();
  }

  private async save(): Promise<void> {
    this.updateGauges();
    await this.ctx.stateDir.saveIntent(this.state);
  }

  /** Whether the installed files exist and hold a certificate for the intended names. */
  private installed(): boolean {
    if (!this.state.version || !this.state.notAfter) return false;
    if (!existsSync(join(versionDir(this.intent.output.dir, this.state.version), this.intent.output.cert))) return false;
    const names = [...(this.state.names ?? [])].sort().join(',');
    return names === [...this.intent.names].sort().join(',');
  }

  /** When the next renewal is due (ignoring backoff), and why. */
  private dueAt(): { at: number; reason: string } {
    if (this.state.fallback) return { at: 0, reason: 'fallback credential installed' };
    if (!this.installed()) return { at: 0, reason: 'no certificate installed for these names' };
    if (this.state.ari) return { at: this.state.ari.pick, reason: 'ARI window' };
    return { at: this.state.fallbackAt ?? 0, reason: 'two thirds of the lifetime' };
  }

  /** Does what is due now; returns the time of the next wake-up. `force` renews at once. */
  async step(now = Date.now(), force = false): Promise<number> {
    const wakes: number[] = [now + this.ctx.config.timing.maxSleep];
    await this.prune(now);
    if (this.state.previous && this.state.previous.removeAfter > now) wakes.push(this.state.previous.removeAfter);
    for (const r of this.retired()) wakes.push(r.removeAfter);

    if (this.state.reloadPending) {
      const next = await this.reload(now);
      if (next !== undefined) wakes.push(next);
    }
    if (!this.state.fallback && this.installed() && this.state.certId && (!this.state.ari || this.state.ari.nextCheck <= now)) await this.checkAri(now);
    if (this.state.ari) wakes.push(this.state.ari.nextCheck);

    const due = this.dueAt();
    const retryAt = this.state.failures > 0 ? (this.state.nextAttempt ?? now) : 0;
    const at = Math.max(due.at, retryAt);
    if (force || at <= now) {
      await this.renew(force ? 'forced' : this.state.failures > 0 ? `retry ${this.state.failures}` : due.reason);
      return Date.now(); // look again at once: the new certificate's ARI, or the retry time

    }
    wakes.push(at);
    return Math.min(...wakes);
  }

  private retired(): { version: string; removeAfter: number }[] {
    return this.state.retired ?? [];
  }

  /** Removes versions whose grace window has passed; keeps the current one and those still in grace. */
  private async prune(now: number): Promise<void> {
    const s = this.state;
    const keep = (s.retired ?? []).filter((r) => r.removeAfter > now);
    if (s.retired && keep.length !== s.retired.length) {
      s.retired = keep;
      s.previous = keep.at(-1);
      if (!s.previous) delete s.previous;
      await this.save();
    }
    if (!s.version) return;
    const removed = await pruneVersions(this.intent.output.dir, [s.version, ...keep.map((r) => r.version)]);
    if (removed.length) this.ctx.log.debug({ event: 'versions-pruned', id: this.intent.id, removed }, 'old versions removed');
  }

  private async checkAri(now: number): Promise<void> {
    const certId = this.state.certId!;
    const endpoints = this.ctx.pool.candidates(now);
    // Ask the CA that issued the certificate first: only it knows the CertID.
    endpoints.sort((a, b) => Number(b.url === this.state.issuedBy) - Number(a.url === this.state.issuedBy));
    const { retryAfterMin, retryAfterMax } = this.ctx.config.timing;
    for (const endpoint of endpoints) {
      if (endpoint.url !== this.state.issuedBy) continue;
      try {
        this.ctx.metrics.ariFetches.inc({ id: this.intent.id });
        const answer = await this.ctx.session(endpoint).renewalInfo(certId, { minMs: retryAfterMin, maxMs: retryAfterMax });
        if (!answer) {
          delete this.state.ari;
          await this.save();
          return;
        }
        const previous = this.state.ari ? { window: this.state.ari.window, at: this.state.ari.pick } : undefined;
        const kept = keepPick(previous, answer.window);
        const pick = kept ? previous!.at : pickInWindow(answer.window, now, this.ctx.random);
        this.state.ari = { window: answer.window, pick, nextCheck: now + answer.retryAfterMs, retryAfterMs: answer.retryAfterMs, explanationUrl: answer.explanationUrl };
        await this.save();
        this.ctx.log.info({ event: 'ari-fetched', id: this.intent.id, windowStart: new Date(answer.window.start).toISOString(), windowEnd: new Date(answer.window.end).toISOString(), renewAt: new Date(pick).toISOString(), retryAfterMs: answer.retryAfterMs }, 'renewal information');
        await this.ctx.emit({ type: 'ari-fetched', id: this.intent.id, certId, window: answer.window, pick, retryAfterMs: answer.retryAfterMs, checkedAt: now, kept });
        return;
      } catch (error) {
        this.ctx.log.warn({ event: 'ari-failed', id: this.intent.id, endpoint: endpoint.url, err: (error as Error).message }, 'renewal information unavailable');
      }
    }
    // No answer: keep any earlier window, look again after the shortest Retry-After.
    if (this.state.ari) this.state.ari.nextCheck = now + retryAfterMin;
    await this.save();
  }

  private async renew(reason: string): Promise<void> {
    const id = this.intent.id;
    const now = Date.now();
    this.state.lastAttempt = now;
    this.ctx.log.info({ event: 'renewal-started', id, reason }, 'renewing');
    await this.ctx.emit({ type: 'renewal-started', id, reason });
    const errors: string[] = [];
    let answered = false;
    const keyPem = (this.intent.rotateKey || !this.state.version ? undefined : this.currentKey()) ?? (await generateCertKey(this.intent.keyType));
    for (const endpoint of this.ctx.pool.candidates(now)) {
      const session = this.ctx.session(endpoint);
      let replaces = endpoint.url === this.state.issuedBy && this.installed() ? this.state.certId : undefined;
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const chain = await session.order({ names: this.intent.names, profile: this.intent.profile, replaces, keyPem }, this.ctx.solver(), (step) =>
            this.ctx.emit({ type: 'order-step', id, endpoint: endpoint.url, step }),
          );
          this.ctx.pool.succeeded(endpoint);
          this.updateEndpointGauges();
          await this.install(endpoint, chain, keyPem);
          return;
        } catch (error) {
          const message = (error as Error).message;
          if (replaces && isReplacesProblem(message) && attempt === 0) {
            // A crash after a newOrder leaves the old certificate "being replaced": order without it.
            replaces = undefined;
            continue;
          }
          if (error instanceof InstallError) {
            answered = true;
            errors.push(message);
            this.ctx.pool.succeeded(endpoint);
          } else {
            errors.push(`${endpoint.url}: ${message}`);
            this.ctx.pool.failed(endpoint);
            session.reset();
            this.updateEndpointGauges();
            this.ctx.log.warn({ event: 'endpoint-failed', id, endpoint: endpoint.url, err: message }, 'CA endpoint failed; trying the next');
            await this.ctx.emit({ type: 'endpoint-failed', id, endpoint: endpoint.url, error: message });
          }
          break;
        }
      }
    }
    this.state.failures++;
    this.state.lastError = errors.join('; ').slice(0, 2000);
    const remaining = (this.state.notAfter ?? now) - now;
    this.state.nextAttempt = now + backoffDelay(this.state.failures, this.ctx.config.timing.backoffInitial, remaining, this.ctx.random);
    this.ctx.metrics.renewals.inc({ id, outcome: 'error' });
    await this.save();
    const loud = this.expired(now) || this.overdue(now);
    this.ctx.log[loud ? 'error' : 'warn'](
      { event: 'renewal-failed', id, failures: this.state.failures, nextAttempt: new Date(this.state.nextAttempt).toISOString(), expired: this.expired(now), overdue: this.overdue(now), err: this.state.lastError },
      loud ? 'renewal failing past the renewal window; the current files stay in place' : 'renewal failed; will retry',
    );
    await this.ctx.emit({ type: 'renewal-failed', id, error: this.state.lastError, failures: this.state.failures, nextAttempt: this.state.nextAttempt });
    if (!answered && this.fallbackDue(Date.now())) await this.installFallback(Date.now());
  }

  /** Every endpoint just failed: is the operator's fallback credential configured, not yet in place, and needed? */
  private fallbackDue(now: number): boolean {
    const f = this.intent.fallback;
    if (!f || this.state.fallback) return false;
    return !this.state.notAfter || this.state.notAfter - now <= f.margin;
  }

  /**
   * Installs the operator's fallback credential through the same atomic swap (key checked
   * against the certificate first), runs the reload once, and says so loudly. Renewal goes on;
   * the next CA-issued certificate replaces it.
   */
  private async installFallback(now: number): Promise<void> {
    const f = this.intent.fallback!;
    const id = this.intent.id;
    const s = this.state;
    try {
      const info = loadFallbackCredential(f, now);
      const version = versionName(now, info.serial, 'fallback');
      await installVersion(this.intent.output.dir, version, versionFiles(this.intent.output, info.leaf, info.chain, info.keyPem), { uid: this.intent.output.owner, gid: this.intent.output.group });
      this.retire(now);
      s.version = version;
      s.fallback = { version, serial: info.serial, notAfter: info.notAfter, since: now };
      delete s.fallbackError;
      if (this.intent.reload) s.reloadPending = version;
      await this.save();
      this.ctx.log.error(
        { event: 'fallback-installed', id, version, serial: info.serial, notAfter: new Date(info.notAfter).toISOString(), caNotAfter: s.notAfter ? new Date(s.notAfter).toISOString() : undefined },
        'every CA endpoint is failing and the certificate is expiring: the operator-provided FALLBACK credential is now installed; renewal keeps trying',
      );
      await this.ctx.emit({ type: 'fallback-installed', id, version, serial: info.serial, notAfter: info.notAfter });
      if (s.reloadPending) await this.reload(Date.now());
    } catch (error) {
      s.fallbackError = (error as Error).message;
      await this.save();
      this.ctx.log.error({ event: 'fallback-failed', id, err: s.fallbackError }, 'the fallback credential could not be installed');
    }
  }

  /** Keeps the version being replaced on disk for the grace window. */
  private retire(now: number): void {
    const s = this.state;
    if (!s.version) return;
    s.retired = [...(s.retired ?? []), { version: s.version, removeAfter: now + this.intent.output.grace }];
    s.previous = s.retired.at(-1)!;
  }

  private currentKey(): string | undefined {
    if (this.state.fallback) return undefined; // never carry the operator's key into a CA order
    try {
      return readFileSync(join(versionDir(this.intent.output.dir, this.state.version!), this.intent.output.key), 'utf8');
    } catch {
      return undefined;
    }
  }

  private async install(endpoint: Endpoint, chainPem: string, keyPem: string): Promise<void> {
    const blocks = splitPem(chainPem);
    const leaf = blocks[0];
    if (!leaf) throw new InstallError('the CA returned no certificate');
    if (!keyMatches(keyPem, leaf)) throw new InstallError('the certificate does not match the key it was ordered for');
    const bundle = this.ctx.bundle;
    if (bundle) {
      // The new root (if any) must be trusted, and its reload done, before the certificate is in place.
      try {
        await bundle.refresh(endpoint.url);
      } catch (error) {
        if (bundle.requireChain && !bundle.trusts(chainPem)) throw new InstallError(`trust bundle refresh failed before install: ${(error as Error).message}`);
      }
      if (bundle.requireChain && !bundle.trusts(chainPem)) throw new InstallError('the new chain does not lead to a root in the trust bundle; not installed');
    }
    const info = leafInfo(leaf);
    const now = Date.now();
    const version = versionName(now, info.serial);
    const o = this.intent.output;
    await installVersion(o.dir, version, versionFiles(o, leaf, blocks.slice(1), keyPem), { uid: o.owner, gid: o.group });
    const s = this.state;
    const replacedFallback = s.fallback;
    if (s.version && s.version !== version) this.retire(now);
    Object.assign(s, {
      version,
      serial: info.serial,
      notBefore: info.notBefore,
      notAfter: info.notAfter,
      certId: info.certId,
      issuedBy: endpoint.url,
      endpoint: endpoint.url,
      names: [...this.intent.names],
      fallbackAt: fallbackRenewalTime(info.notBefore, info.notAfter, this.ctx.random),
      failures: 0,
      lastSuccess: now,
      reloadPending: this.intent.reload ? version : undefined,
      reloadFailures: 0,
    });
    delete s.ari;
    delete s.nextAttempt;
    delete s.lastError;
    delete s.fallback;
    delete s.fallbackError;
    if (!s.reloadPending) delete s.reloadPending;
    await this.save();
    this.ctx.metrics.renewals.inc({ id: this.intent.id, outcome: 'ok' });
    this.ctx.log.info({ event: 'renewed', id: this.intent.id, endpoint: endpoint.url, serial: info.serial, notAfter: new Date(info.notAfter).toISOString(), version }, 'certificate installed');
    if (replacedFallback) this.ctx.log.warn({ event: 'fallback-replaced', id: this.intent.id, fallbackVersion: replacedFallback.version, version }, 'a CA-issued certificate replaced the fallback credential');
    await this.ctx.emit({ type: 'renewed', id: this.intent.id, endpoint: endpoint.url, version, serial: info.serial, notAfter: info.notAfter });
    if (s.reloadPending) await this.reload(Date.now());
  }

  /** Runs the reload for the pending version; returns the retry time on failure. */
  private async reload(now: number): Promise<number | undefined> {
    const version = this.state.reloadPending;
    if (!version || !this.intent.reload) {
      delete this.state.reloadPending;
      return undefined;
    }
    const o = this.intent.output;
    try {
      await runReload(this.intent.reload, { ANVIL_CERT_ID: this.intent.id, ANVIL_CERT_DIR: join(o.dir, 'current'), ANVIL_CERT_VERSION: version });
      delete this.state.reloadPending;
      this.state.reloadFailures = 0;
      delete this.state.lastReloadError;
      this.ctx.metrics.reloads.inc({ target: this.intent.id, outcome: 'ok' });
      await this.save();
      await this.ctx.emit({ type: 'reloaded', id: this.intent.id, version });
      return undefined;
    } catch (error) {
      const message = (error as Error).message;
      this.state.reloadFailures = (this.state.reloadFailures ?? 0) + 1;
      this.state.lastReloadError = message;
      this.ctx.metrics.reloads.inc({ target: this.intent.id, outcome: 'error' });
      await this.save();
      this.ctx.log.error({ event: 'reload-failed', id: this.intent.id, version, failures: this.state.reloadFailures, err: message }, 'reload action failed; will retry');
      await this.ctx.emit({ type: 'reload-failed', id: this.intent.id, version, error: message });
      return now + backoffDelay(this.state.reloadFailures, Math.min(this.ctx.config.timing.backoffInitial, 30_000), (this.state.notAfter ?? now) - now, this.ctx.random);
    }
  }

  /** True when the installed certificate is past notAfter, or none is installed. */
  expired(now = Date.now()): boolean {
    return !this.state.notAfter || this.state.notAfter <= now;
  }

  /** True when renewal is failing and the renewal window (ARI end, or ¾ of the lifetime) has passed. */
  overdue(now = Date.now()): boolean {
    if (this.state.failures === 0 || !this.state.notAfter || !this.state.notBefore) return this.state.failures > 0 && !this.state.notAfter;
    return now >= windowEndOf(this.state);
  }

  updateGauges(now = Date.now()): void {
    const id = this.intent.id;
    const m = this.ctx.metrics;
    if (this.state.notAfter) m.expiry.set({ id }, this.state.notAfter / 1000);
    const start = windowStartOf(this.state);
    if (start !== undefined) m.windowStart.set({ id }, start / 1000);
    if (this.state.lastSuccess) m.lastSuccess.set({ id }, this.state.lastSuccess / 1000);
    m.failures.set({ id }, this.state.failures);
    m.expired.set({ id }, this.expired(now) ? 1 : 0);
    m.overdue.set({ id }, this.overdue(now) ? 1 : 0);
    m.fallbackActive.set({ id }, this.state.fallback ? 1 : 0);
    this.updateEndpointGauges();
  }

  private updateEndpointGauges(): void {
    const id = this.intent.id;
    for (const e of this.ctx.pool.endpoints) {
      this.ctx.metrics.endpoint.set({ id, endpoint: e.url }, e.url === this.state.endpoint ? 1 : 0);
      this.ctx.metrics.endpointUp.set({ endpoint: e.url }, e.breaker.open ? 0 : 1);
    }
  }
}

/** An error after the CA answered: the endpoint is fine, the result is not installable. */
class InstallError extends Error {
  override readonly name = 'InstallError';
}

/** Start of the renewal window: ARI's, else the ⅔-lifetime fallback point. */
export function windowStartOf(s: IntentState): number | undefined {
  if (s.ari) return s.ari.window.start;
  return s.fallbackAt;
}

/** End of the renewal window: ARI's, else ¾ of the lifetime. */
export function windowEndOf(s: IntentState): number {
  if (s.ari) return s.ari.window.end;
  if (!s.notBefore || !s.notAfter) return 0;
  return s.notBefore + ((s.notAfter - s.notBefore) * 3) / 4;
}
