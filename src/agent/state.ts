/**
 * The agent's state directory: one JSON file per certificate intent (current and previous
 * version, ARI state, failure count, last attempt and error, pending reload) and one for the
 * trust bundle (per-endpoint ETag and roots). Files are replaced atomically (write, fsync,
 * rename), so a crash leaves the old or the new state, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Window } from './scheduler.js';

/** What the agent remembers about one certificate intent. */
export interface IntentState {
  id: string;
  /** The installed version (directory name under `<output>/versions`). */
  version?: string;
  serial?: string;
  notBefore?: number;
  notAfter?: number;
  certId?: string;
  /** Directory URL of the endpoint that issued the installed certificate. */
  issuedBy?: string;
  /** Names the installed certificate was ordered for (a changed intent renews at once). */
  names?: string[];
  /** The most recently replaced version, kept until `removeAfter` (the grace window). */
  previous?: { version: string; removeAfter: number };
  /** Every replaced version still inside its grace window, oldest first. */
  retired?: { version: string; removeAfter: number }[];
  ari?: { window: Window; pick: number; nextCheck: number; retryAfterMs: number; explanationUrl?: string | undefined };
  /** When renewal is due without ARI (⅔ of the lifetime minus jitter), fixed per certificate. */
  fallbackAt?: number;
  failures: number;
  lastAttempt?: number;
  lastError?: string;
  lastSuccess?: number;
  nextAttempt?: number;
  /** A version installed whose reload has not succeeded yet. */
  reloadPending?: string;
  reloadFailures?: number;
  lastReloadError?: string;
  /** Directory URL last used successfully. */
  endpoint?: string;
  /**
   * Set while the operator's fallback credential is installed (`version` is then its directory);
   * notBefore/notAfter/serial/certId keep describing the last CA-issued certificate.
   */
  fallback?: { version: string; serial: string; notAfter: number; since: number };
  /** Why the fallback could not be installed, when it was due and failed. */
  fallbackError?: string;
}

/** What the agent remembers about the trust bundle. */
export interface BundleState {
  /** Per endpoint directory URL: the last ETag and the roots it served. */
  endpoints: Record<string, { etag?: string; pem: string; fetchedAt: number }>;
  /** SHA-256 of the bundle file content last written. */
  writtenHash?: string;
  reloadPending?: string;
  lastError?: string;
  lastSuccess?: number;
}

async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  // Asynchronous, so that many agents in one process never hold the event loop on fsync.
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** The state directory. */
export class StateDir {
  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'certificates'), { recursive: true, mode: 0o700 });
  }

  intent(id: string): IntentState {
    return readJson<IntentState>(join(this.dir, 'certificates', `${id}.json`)) ?? { id, failures: 0 };
  }

  saveIntent(state: IntentState): Promise<void> {
    return writeJsonAtomic(join(this.dir, 'certificates', `${state.id}.json`), state);
  }

  bundle(): BundleState {
    return readJson<BundleState>(join(this.dir, 'trust-bundle.json')) ?? { endpoints: {} };
  }

  saveBundle(state: BundleState): Promise<void> {
    return writeJsonAtomic(join(this.dir, 'trust-bundle.json'), state);
  }
}
