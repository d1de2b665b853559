/**
 * On a shared store (PostgreSQL) the CA hierarchy lives in the store, so instances need no shared
 * file system: `<data>/ca` (manifest, certificates, encrypted keys or PKCS#11 references; not the
 * per-instance OCSP responder pairs) is published as one snapshot in the store's shared state, and
 * each instance keeps its `<data>/ca` as a copy it refreshes when the snapshot changes. Keys stay
 * encrypted with the key passphrase, which every instance is given and the store never sees.
 *
 * The first instance on an empty store creates (or brings) the hierarchy under a lease, so two
 * instances started at once on an empty database agree on one CA.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { CoordinationStore } from '../store/store.js';

const STATE_KEY = 'ca-directory';
const BOOTSTRAP_LEASE = 'ca-bootstrap';
const CHANGE_LEASE = 'ca-change';
const BOOTSTRAP_WAIT_MS = 120_000;
/** Files under these are each instance's own. */
const LOCAL_ONLY = ['ocsp'];
const MANIFEST = 'manifest.json';

interface Snapshot {
  digest: string;
  /** Path relative to `<data>/ca` (always with `/`) → file content, base64. */
  files: Record<string, string>;
}

export class SharedCaDirectory {
  /** The digest of what this instance last published or applied. */
  private current: string | undefined;

  constructor(
    private readonly store: CoordinationStore,
    private readonly caDir: string,
  ) {}

  /**
   * Makes `<data>/ca` the store's hierarchy. On a store that has none, one instance (under a lease)
   * runs `create` (which opens or creates the local CA) and publishes it; the others wait for it.
   */
  async bootstrap(create: () => Promise<void>, holder: string, log: Logger): Promise<void> {
    const deadline = Date.now() + BOOTSTRAP_WAIT_MS;
    for (;;) {
      if ((await this.pull()) !== 'absent') return;
      if ((await this.store.acquireLease(BOOTSTRAP_LEASE, holder, 60_000)) !== null) {
        try {
          if ((await this.pull()) !== 'absent') return;
          await create();
          await this.publish();
          log.info({ caDir: this.caDir }, 'published this CA hierarchy to the shared store');
          return;
        } finally {
          await this.store.releaseLease(BOOTSTRAP_LEASE, holder).catch(() => undefined);
        }
      }
      if (Date.now() > deadline) throw new Error('another instance holds the CA bootstrap lease but published no hierarchy within 2 minutes');
      await sleep(250);
    }
  }

  /** Writes the store's snapshot into `<data>/ca` when it differs from what is there. */
  async pull(): Promise<'absent' | 'unchanged' | 'applied'> {
    const row = await this.store.getSharedState(STATE_KEY);
    if (!row) return 'absent';
    const snapshot = JSON.parse(row.value) as Snapshot;
    if (snapshot.digest === this.current) return 'unchanged';
    if (snapshot.digest === digestOf(readLocal(this.caDir))) {
      this.current = snapshot.digest;
      return 'unchanged';
    }
    apply(this.caDir, snapshot.files);
    this.current = snapshot.digest;
    return 'applied';
  }

  /** Publishes `<data>/ca` as the hierarchy of every instance. */
  async publish(): Promise<void> {
    const files = readLocal(this.caDir);
    const snapshot: Snapshot = { digest: digestOf(files), files };
    await this.store.putSharedState(STATE_KEY, JSON.stringify(snapshot));
    this.current = snapshot.digest;
  }

  /**
   * Runs a change of `<data>/ca` (rotate, archive, key removal) on the current hierarchy and
   * publishes the result, one instance or command at a time, so no change overwrites another.
   */
  async change<T>(holder: string, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + 30_000;
    while ((await this.store.acquireLease(CHANGE_LEASE, holder, 60_000)) === null) {
      if (Date.now() > deadline) throw new Error('another instance has been changing the CA hierarchy for 30 s; try again');
      await sleep(200);
    }
    try {
      await this.pull();
      const result = await fn();
      await this.publish();
      return result;
    } finally {
      await this.store.releaseLease(CHANGE_LEASE, holder).catch(() => undefined);
    }
  }

  /** Pulls every `intervalMs`; `onApplied` reloads the hierarchy after a change arrived. */
  watch(intervalMs: number, onApplied: () => Promise<unknown>, log: Logger): () => void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      this.pull()
        .then(async (r) => {
          if (r === 'applied') {
            log.info('the CA hierarchy changed in the shared store; reloading it');
            await onApplied();
          }
        })
        .catch((e) => log.warn({ err: (e as Error).message }, 'could not read the shared CA hierarchy; keeping the one in force'))
        .finally(() => (running = false));
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}

function readLocal(caDir: string): Record<string, string> {
  const files: Record<string, string> = {};
  if (!existsSync(caDir)) return files;
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const rel = relative(caDir, path).split(sep).join('/');
      if (LOCAL_ONLY.includes(rel) || name.endsWith('.tmp')) continue;
      if (statSync(path).isDirectory()) walk(path);
      else files[rel] = readFileSync(path).toString('base64');
    }
  };
  walk(caDir);
  return files;
}

function digestOf(files: Record<string, string>): string {
  const h = createHash('sha256');
  for (const name of Object.keys(files).sort()) h.update(name).update('\0').update(files[name]!).update('\0');
  return h.digest('hex');
}

/** Replaces changed files by rename, removes those the snapshot no longer has, the manifest last. */
function apply(caDir: string, files: Record<string, string>): void {
  mkdirSync(caDir, { recursive: true, mode: 0o700 });
  const local = readLocal(caDir);
  const names = Object.keys(files).sort((a, b) => Number(a === MANIFEST) - Number(b === MANIFEST));
  for (const name of names) {
    if (name.split('/').some((part) => part === '..' || part === '') || name.startsWith('/')) throw new Error(`the shared CA hierarchy names an unsafe path: ${name}`);
    if (local[name] === files[name]) continue;
    const path = join(caDir, name);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, Buffer.from(files[name]!, 'base64'), { mode: name.endsWith('.pem') && !name.endsWith('.key.pem') ? 0o644 : 0o600, flag: 'wx' });
    renameSync(tmp, path);
  }
  for (const name of Object.keys(local)) if (!(name in files)) rmSync(join(caDir, name), { force: true });
}
