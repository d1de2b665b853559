/**
 * Keeps a trust bundle file current from each endpoint's `/trust-bundle.pem` (conditional GET
 * with the last ETag). The file is the union of every endpoint's last answer, so failing over to
 * a second CA never drops the first one's roots, and during a root rotation it holds the old and
 * the new root. The file is replaced atomically and its reload action runs once per change;
 * the agent refreshes it, and waits for that reload, before installing any certificate, so no
 * certificate chaining to a new root is in place before the new root is trusted.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { AgentConfig } from './config.js';
import { chainsToBundle, splitPem } from './cert-info.js';
import { httpsGet } from './https-get.js';
import { originAgent } from './acme-session.js';
import type { AgentMetrics } from './metrics.js';
import { runReload } from './reload.js';
import type { BundleState, StateDir } from './state.js';

type BundleConfig = NonNullable<AgentConfig['trustBundle']>;

/** The trust bundle URL next to a directory URL (`…/directory` → `…/trust-bundle.pem`). */
export function bundleUrlFor(directoryUrl: string): string {
  return new URL('trust-bundle.pem', directoryUrl).toString();
}

export class TrustBundleKeeper {
  private state: BundleState;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: BundleConfig,
    private readonly stateDir: StateDir,
    private readonly metrics: AgentMetrics,
    private readonly log: Logger,
    private readonly trust: () => string | undefined,
    private readonly timeoutMs: number,
  ) {
    this.state = stateDir.bundle();
  }

  /** The bundle file's current content ('' when absent). */
  content(): string {
    try {
      return readFileSync(this.config.file, 'utf8');
    } catch {
      return '';
    }
  }

  /** Whether `chainPem` leads to a root in the bundle file. */
  trusts(chainPem: string): boolean {
    return chainsToBundle(chainPem, this.content());
  }

  get requireChain(): boolean {
    return this.config.requireChain;
  }

  /** Serialises refreshes: one at a time, in call order. */
  refresh(directoryUrl: string): Promise<{ changed: boolean }> {
    const run = this.queue.then(() => this.refreshNow(directoryUrl));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async refreshNow(directoryUrl: string): Promise<{ changed: boolean }> {
    const known = this.state.endpoints[directoryUrl];
    try {
      const res = await httpsGet(bundleUrlFor(directoryUrl), { ca: this.trust(), agent: originAgent(directoryUrl), timeoutMs: this.timeoutMs, headers: known?.etag ? { 'If-None-Match': known.etag } : {} });
      if (res.status === 304) {
        this.metrics.bundleFetches.inc({ outcome: 'unchanged' });
      } else if (res.status === 200) {
        const pem = splitPem(res.body.toString('utf8')).join('');
        if (!pem) throw new Error('trust bundle answer holds no certificate');
        for (const block of splitPem(pem)) new X509Certificate(block); // refuse garbage before it reaches the file
        const etag = res.headers.etag;
        this.state.endpoints[directoryUrl] = { ...(typeof etag === 'string' ? { etag } : {}), pem, fetchedAt: Date.now() };
        this.metrics.bundleFetches.inc({ outcome: known?.pem === pem ? 'unchanged' : 'changed' });
      } else if (res.status === 404) {
        // Not an Anvil CA (e.g. Pebble): nothing to keep for this endpoint.
        this.metrics.bundleFetches.inc({ outcome: 'absent' });
      } else {
        throw new Error(`GET ${bundleUrlFor(directoryUrl)} answered ${res.status}`);
      }
    } catch (error) {
      this.metrics.bundleFetches.inc({ outcome: 'error' });
      this.state.lastError = (error as Error).message;
      await this.stateDir.saveBundle(this.state);
      throw error;
    }
    const changed = await this.writeIfChanged();
    await this.reloadIfPending();
    this.state.lastSuccess = Date.now();
    delete this.state.lastError;
    await this.stateDir.saveBundle(this.state);
    return { changed };
  }

  /** Writes the union of the endpoints' roots when it differs from what was last written. */
  private async writeIfChanged(): Promise<boolean> {
    const seen = new Set<string>();
    const blocks: string[] = [];
    for (const entry of Object.values(this.state.endpoints)) {
      for (const block of splitPem(entry.pem)) {
        const fp = new X509Certificate(block).fingerprint256;
        if (seen.has(fp)) continue;
        seen.add(fp);
        blocks.push(block);
      }
    }
    if (blocks.length === 0) return false;
    const content = blocks.join('');
    const hash = createHash('sha256').update(content).digest('hex');
    if (hash === this.state.writtenHash && this.content() === content) return false;
    const tmp = `${this.config.file}.tmp`;
    const handle = await open(tmp, 'w', this.config.mode);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, this.config.file);
    this.state.writtenHash = hash;
    if (this.config.reload) this.state.reloadPending = hash;
    await this.stateDir.saveBundle(this.state);
    this.log.info({ event: 'trust-bundle-written', file: this.config.file, roots: blocks.length }, 'trust bundle updated');
    return true;
  }

  /** Runs the bundle's reload once per written change; throws (and keeps it pending) on failure. */
  private async reloadIfPending(): Promise<void> {
    if (!this.state.reloadPending || !this.config.reload) return;
    try {
      await runReload(this.config.reload, { ANVIL_TRUST_BUNDLE: this.config.file });
      this.metrics.reloads.inc({ target: 'trust-bundle', outcome: 'ok' });
      delete this.state.reloadPending;
    } catch (error) {
      this.metrics.reloads.inc({ target: 'trust-bundle', outcome: 'error' });
      this.log.error({ event: 'trust-bundle-reload-failed', err: (error as Error).message }, 'trust bundle reload failed');
      await this.stateDir.saveBundle(this.state);
      throw error;
    }
  }
}
