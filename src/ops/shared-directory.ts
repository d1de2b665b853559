/**
 * A directory every instance on a shared store (PostgreSQL) follows, so instances need no shared
 * file system: its files are published as one snapshot in the store's shared state, and each
 * instance keeps its local directory as a copy it refreshes when the snapshot changes.
 *
 * - The CA hierarchy (`<data>/ca`: manifest, certificates, keys encrypted with the passphrase that
 *   every instance is given and the store never sees, PKCS#11 references; not the per-instance
 *   OCSP responder pairs).
 * - The profiles (`<data>/profiles`, a copy of the profile directory last reloaded anywhere).
 *
 * The first instance on an empty store publishes its directory under a lease, so instances started
 * at once on an empty database agree on one CA.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { writeAtomic } from '../ca/atomic-file.js';
import { dirname, join, relative, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { CoordinationStore } from '../store/store.js';

const BOOTSTRAP_WAIT_MS = 120_000;
const MANIFEST = 'manifest.json';

export interface SharedDirectoryKind {
  /** The shared-state key of the snapshot; also names the leases. */
  key: string;
  /** Top-level entries that are each instance's own. */
  localOnly: string[];
}

export const CA_DIRECTORY: SharedDirectoryKind = { key: 'ca-directory', localOnly: ['ocsp'] };
export const PROFILES_DIRECTORY: SharedDirectoryKind = { key: 'profiles', localOnly: [] };

interface Snapshot {
  digest: string;
  /** Path relative to `<data>/ca` (always with `/`) → file content, base64. */
  files: Record<string, string>;
}

export class SharedDirectory {
  /** The digest of what this instance last published or applied. */
  private current: string | undefined;

  constructor(
    private readonly store: CoordinationStore,
    private readonly kind: SharedDirectoryKind,
    readonly dir: string,
  ) {}

  /**
   * Makes the local directory the store's. On a store that has none, one instance (under a lease)
   * runs `create` (which makes the local directory: opens or creates the CA) and publishes it;
   * the others wait for it.
   */
  async bootstrap(create: () => Promise<void>, holder: string, log: Logger): Promise<void> {
    const deadline = Date.now() + BOOTSTRAP_WAIT_MS;
    for (;;) {
      if ((await this.pull()) !== 'absent') return;
      if ((await this.store.acquireLease(`${this.kind.key}:bootstrap`, holder, 60_000)) !== null) {
        try {
          if ((await this.pull()) !== 'absent') return;
          await create();
          await this.publish();
          log.info({ dir: this.dir, key: this.kind.key }, 'published this directory to the shared store');
          return;
        } finally {
          await this.store.releaseLease(`${this.kind.key}:bootstrap`, holder).catch(() => undefined);
        }
      }
      if (Date.now() > deadline) throw new Error(`another instance holds the ${this.kind.key} bootstrap lease but published nothing within 2 minutes`);
      await sleep(250);
    }
  }

  /** Writes the store's snapshot into the local directory when it differs; 'applied' when it is new to this process. */
  async pull(): Promise<'absent' | 'unchanged' | 'applied'> {
    const row = await this.store.getSharedState(this.kind.key);
    if (!row) return 'absent';
    const snapshot = JSON.parse(row.value) as Snapshot;
    if (snapshot.digest === this.current) return 'unchanged';
    // New to this process, even when another process on the data directory (a worker) already wrote the files.
    if (snapshot.digest !== digestOf(readLocal(this.dir, this.kind.localOnly))) apply(this.dir, snapshot.files, this.kind.localOnly);
    this.current = snapshot.digest;
    return 'applied';
  }

  /** Publishes the local directory as every instance's. */
  async publish(): Promise<void> {
    const files = readLocal(this.dir, this.kind.localOnly);
    const snapshot: Snapshot = { digest: digestOf(files), files };
    await this.store.putSharedState(this.kind.key, JSON.stringify(snapshot));
    this.current = snapshot.digest;
  }

  /** Makes the local directory a copy of `source` (the operator's directory), to be published. */
  copyFrom(source: string): void {
    apply(this.dir, readLocal(source, []), this.kind.localOnly);
  }

  /**
   * Runs a change of the local directory (a CA rotation, archive, key removal) on the current
   * snapshot and publishes the result, one instance or command at a time, so no change overwrites another.
   */
  async change<T>(holder: string, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + 30_000;
    while ((await this.store.acquireLease(`${this.kind.key}:change`, holder, 60_000)) === null) {
      if (Date.now() > deadline) throw new Error(`another instance has been changing ${this.kind.key} for 30 s; try again`);
      await sleep(200);
    }
    try {
      await this.pull();
      const result = await fn();
      await this.publish();
      return result;
    } finally {
      await this.store.releaseLease(`${this.kind.key}:change`, holder).catch(() => undefined);
    }
  }

  /** Pulls every `intervalMs`; `onApplied` reloads after a change arrived. */
  watch(intervalMs: number, onApplied: () => Promise<unknown>, log: Logger): () => void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      this.pull()
        .then(async (r) => {
          if (r === 'applied') {
            log.info({ key: this.kind.key }, 'changed in the shared store; reloading it');
            await onApplied();
          }
        })
        .catch((e) => log.warn({ key: this.kind.key, err: (e as Error).message }, 'could not read the shared copy; keeping the one in force'))
        .finally(() => (running = false));
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}

function readLocal(root: string, localOnly: string[]): Record<string, string> {
  const files: Record<string, string> = {};
  if (!existsSync(root)) return files;
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const rel = relative(root, path).split(sep).join('/');
      if (localOnly.includes(rel) || name.endsWith('.tmp')) continue;
      if (statSync(path).isDirectory()) walk(path);
      else files[rel] = readFileSync(path).toString('base64');
    }
  };
  walk(root);
  return files;
}

function digestOf(files: Record<string, string>): string {
  const h = createHash('sha256');
  for (const name of Object.keys(files).sort()) h.update(name).update('\0').update(files[name]!).update('\0');
  return h.digest('hex');
}

/** Replaces changed files by rename, removes those the snapshot no longer has, the manifest last. */
function apply(root: string, files: Record<string, string>, localOnly: string[]): void {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const local = readLocal(root, localOnly);
  const names = Object.keys(files).sort((a, b) => Number(a === MANIFEST) - Number(b === MANIFEST));
  for (const name of names) {
    if (name.split('/').some((part) => part === '..' || part === '') || name.startsWith('/')) throw new Error(`the shared CA hierarchy names an unsafe path: ${name}`);
    if (local[name] === files[name]) continue;
    const path = join(root, name);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeAtomic(path, Buffer.from(files[name]!, 'base64'), name.endsWith('.pem') && !name.endsWith('.key.pem') ? 0o644 : 0o600);
  }
  for (const name of Object.keys(local)) if (!(name in files)) rmSync(join(root, name), { force: true });
}
