/**
 * `anvil init` and `anvil ca …`: the CA hierarchy for production. Every change rewrites the
 * manifest; a running server (its pid in the data directory) is told to reload at once and would
 * notice the manifest change within seconds anyway.
 */
import { openDataStore } from './open-store.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { KeyType } from '../ca/algorithms.js';
import { exportRootKey, importIntermediate, importRootKey, removeRootKey } from '../ca/ca-admin.js';
import { caCreatedData, createHierarchy, loadCa, type HierarchyOptions } from '../ca/ca-directory.js';
import { CaOperations } from '../domain/ca-operations.js';
import { manifestExists, readManifest } from '../ca/manifest.js';
import { guardFor, keyStoresFor } from '../ca/open-ca.js';
import { resolvePassphrase } from '../ca/passphrase.js';
import { CA_DIRECTORY, SharedDirectory } from '../ops/shared-directory.js';
import type { Config } from '../config/load.js';
import type { Store } from '../store/store.js';
import { parseDuration } from '../config/settings.js';
import { PID_FILE } from './serve.js';
import { operatorActor, parseCommand, type ParsedCommand } from './settings-args.js';
import { UsageError, unknownWord } from './usage-error.js';

const HIERARCHY_OPTIONS = {
  organization: { type: 'string' },
  'root-key-type': { type: 'string' },
  'root-validity': { type: 'string' },
  'intermediate-key-type': { type: 'string' },
  'intermediate-validity': { type: 'string' },
  'key-store': { type: 'string' },
  'permitted-dns': { type: 'string', multiple: true },
  'no-alternate-root': { type: 'boolean' },
} as const;

function hierarchyOptions(v: ParsedCommand['values']): HierarchyOptions {
  const keyType = (name: string): KeyType | undefined => {
    const t = v[name];
    if (t === undefined) return undefined;
    if (typeof t !== 'string' || !['ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'rsa2048', 'rsa3072', 'rsa4096'].includes(t)) {
      throw new Error(`--${name} must be one of ecdsa-p256, ecdsa-p384, ecdsa-p521, rsa2048, rsa3072, rsa4096`);
    }
    return t as KeyType;
  };
  const duration = (name: string): number | undefined => {
    const t = v[name];
    if (t === undefined) return undefined;
    const ms = typeof t === 'string' ? parseDuration(t) : undefined;
    if (!ms) throw new Error(`--${name} must be a duration such as 3650d`);
    return ms;
  };
  const store = v['key-store'];
  if (store !== undefined && store !== 'file' && store !== 'pkcs11') throw new Error('--key-store must be file or pkcs11');
  const o: HierarchyOptions = {};
  if (v['no-alternate-root'] !== true) o.alternateRoot = true;
  const set = <K extends keyof HierarchyOptions>(k: K, value: HierarchyOptions[K] | undefined) => {
    if (value !== undefined) o[k] = value;
  };
  set('organization', typeof v.organization === 'string' ? v.organization : undefined);
  set('rootKeyType', keyType('root-key-type'));
  set('rootValidityMs', duration('root-validity'));
  set('intermediateKeyType', keyType('intermediate-key-type'));
  set('intermediateValidityMs', duration('intermediate-validity'));
  set('intermediateKeyStore', store as 'file' | 'pkcs11' | undefined);
  set('permittedDns', Array.isArray(v['permitted-dns']) ? v['permitted-dns'].map(String) : undefined);
  return o;
}

function signalServer(dataDir: string): void {
  try {
    const pid = Number(readFileSync(join(dataDir, PID_FILE), 'utf8').trim());
    process.kill(pid, 'SIGHUP');
    process.stdout.write(`told the running server (pid ${pid}) to reload\n`);
  } catch {
    // no server running here; it will read the manifest at start
  }
}

function describe(dataDir: string): string {
  const caDir = join(dataDir, 'ca');
  const m = readManifest(caDir);
  const lines = [`trust bundle version ${m.bundleVersion}`];
  for (const r of m.roots) {
    const c = new X509Certificate(readFileSync(join(caDir, r.certFile)));
    lines.push(`root ${r.id} (${r.status}, key ${r.key ? r.key.kind : 'offline'}): ${c.subject.replace(/\n/g, ', ')}; until ${c.validTo}; sha256 ${c.fingerprint256}`);
  }
  for (const i of m.issuers) {
    const c = new X509Certificate(readFileSync(join(caDir, i.certFile)));
    const alt = i.alternates.length ? `; cross-signed by ${i.alternates.map((a) => a.rootId).join(', ')}` : '';
    lines.push(`issuer ${i.id} (${i.status}, key ${i.key.kind}${i.keyDestroyedAt ? ', key destroyed' : ''}) under ${i.rootId}: ${c.subject.replace(/\n/g, ', ')}; until ${c.validTo}${alt}`);
  }
  lines.push(`files: ${join(dataDir, 'root.pem')} (primary root), ${join(dataDir, 'trust-bundle.pem')} (all roots), ${caDir}/`);
  return lines.join('\n');
}

export const INIT_USAGE = `Usage: anvil init --data-dir <dir> [--organization <name>] [--root-key-type ecdsa-p384] [--root-validity 3650d]
  [--intermediate-key-type ecdsa-p256] [--intermediate-validity 1825d] [--key-store file|pkcs11] [--permitted-dns .internal]...
  [--no-alternate-root]
   or: anvil init --data-dir <dir> --import-chain <intermediate+root.pem> --import-key <key.pem> [--import-key-passphrase-file <f>] [--import-root <root.pem>]`;

export async function initCommand(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    ...HIERARCHY_OPTIONS,
    'import-chain': { type: 'string' },
    'import-key': { type: 'string' },
    'import-key-passphrase-file': { type: 'string' },
    'import-root': { type: 'string' },
  });
  const v = parsed.values;
  const config = parsed.config();
  const caDir = join(config.dataDir, 'ca');
  if (manifestExists(caDir)) {
    process.stderr.write(`anvil init: ${caDir} already holds a CA (see anvil ca status)\n`);
    return 1;
  }
  const secret = resolvePassphrase(process.env, config.keyPassphraseFile, config.dataDir);
  if (secret.devFile) process.stderr.write(`WARNING: no key passphrase configured; using the development passphrase in ${secret.devFile}\n`);
  try {
    if (typeof v['import-chain'] === 'string') {
      if (typeof v['import-key'] !== 'string') throw new Error('--import-key is required with --import-chain');
      const result = importIntermediate(config.dataDir, secret.passphrase, {
        chainPem: readFileSync(v['import-chain'], 'utf8'),
        keyPem: readFileSync(v['import-key'], 'utf8'),
        ...(typeof v['import-key-passphrase-file'] === 'string' ? { keyPassphrase: readFileSync(v['import-key-passphrase-file'], 'utf8').trim() } : {}),
        ...(typeof v['import-root'] === 'string' ? { rootPem: readFileSync(v['import-root'], 'utf8') } : {}),
      });
      process.stdout.write(`imported issuer ${result.issuerId} (key now encrypted with the Anvil passphrase)\n`);
    } else {
      const keys = keyStoresFor(config, process.env, secret.passphrase);
      try {
        await createHierarchy(config.dataDir, keys, { ...hierarchyOptions(v), label: '' });
      } finally {
        keys.close();
      }
    }
    // Loading checks every key against its certificate and writes root.pem and trust-bundle.pem.
    const keys = keyStoresFor(config, process.env, secret.passphrase);
    try {
      const ca = loadCa(config.dataDir, keys, guardFor(config));
      const { store } = await openDataStore(config);
      try {
        await store.appendAudit({ actor: operatorActor(), action: 'ca.created', subject: ca.active.id, data: caCreatedData(ca, typeof v['import-chain'] === 'string') });
      } finally {
        await store.close();
      }
    } finally {
      keys.close();
    }
    process.stdout.write(describe(config.dataDir) + '\n');
    return 0;
  } catch (e) {
    process.stderr.write(`anvil init: ${(e as Error).message}\n`);
    return 1;
  }
}

export const CA_USAGE = `Usage: anvil ca <command> --data-dir <dir> [serve settings]
  status                              roots, issuers, their status and where their keys are
  rotate [hierarchy options]          new active intermediate; the current one retires (keeps OCSP/CRLs)
  rotate --new-root [hierarchy options]   new root and a new active intermediate under it (cross-signed by the
                                      old roots whose keys are here); the old roots stay in the trust bundle
                                      (retiring) through the overlap, the old intermediate retires
  bundle [--pem]                      the trust bundle (JSON, or PEM of the roots)
  archive --issuer <id>               stop loading a retiring issuer whose certificates all expired
  retire-key --issuer <id>            destroy an archived issuer's key once its final CRL is published
  export-root-key --root <id> --out <file>   copy the encrypted root key out for offline storage
  remove-root-key --root <id>         delete the root key from the data directory (after export)
  import-root-key --root <id> --in <file>    bring an exported root key back (for a rotation)`;

const CA_OPTIONS = { ...HIERARCHY_OPTIONS, issuer: { type: 'string' }, root: { type: 'string' }, out: { type: 'string' }, in: { type: 'string' }, pem: { type: 'boolean' }, 'new-root': { type: 'boolean' } } as const;

export async function caCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const config = parseCommand(rest, CA_OPTIONS).config();
  const caDir = join(config.dataDir, 'ca');
  // On PostgreSQL the hierarchy is the store's: this command works on a fresh copy and publishes what it changes.
  const shared = config.databaseUrl ? await openDataStore(config) : undefined;
  try {
    const directory = shared ? new SharedDirectory(shared.store, CA_DIRECTORY, caDir) : undefined;
    if (directory && (await directory.pull()) === 'absent') {
      process.stderr.write('anvil ca: the PostgreSQL store holds no CA yet (start a server on it first)\n');
      return 1;
    }
    return await caAction(action, rest, config, caDir, directory && shared ? { directory, store: shared.store } : undefined);
  } finally {
    await shared?.store.close();
  }
}

async function caAction(
  action: string | undefined,
  rest: string[],
  config: Config,
  caDir: string,
  shared: { directory: SharedDirectory; store: Store } | undefined,
): Promise<number> {
  const v = parseCommand(rest, CA_OPTIONS).values;
  if (!manifestExists(caDir)) {
    process.stderr.write(`anvil ca: no CA in ${caDir} (anvil init)\n`);
    return 1;
  }
  const holder = `anvil ca ${action ?? ''} ${process.pid}`;
  const changing = <T>(fn: () => Promise<T>): Promise<T> => (shared ? shared.directory.change(holder, fn) : fn());
  const passphrase = () => resolvePassphrase(process.env, config.keyPassphraseFile, config.dataDir, false).passphrase;
  const str = (name: string): string => {
    const value = v[name];
    if (typeof value !== 'string') throw new UsageError(`--${name} is required`);
    return value;
  };
  try {
    switch (action) {
      case 'status':
        process.stdout.write(describe(config.dataDir) + '\n');
        return 0;
      case 'bundle': {
        const m = readManifest(caDir);
        const roots = m.roots.map((r) => ({ id: r.id, status: r.status, pem: readFileSync(join(caDir, r.certFile), 'utf8') }));
        if (v.pem) process.stdout.write(roots.map((r) => r.pem).join(''));
        else process.stdout.write(JSON.stringify({ version: m.bundleVersion, roots, issuers: m.issuers.filter((i) => i.status !== 'archived').map((i) => ({ id: i.id, status: i.status, pem: readFileSync(join(caDir, i.certFile), 'utf8') })) }, null, 2) + '\n');
        return 0;
      }
      case 'rotate':
      case 'archive':
      case 'retire-key': {
        const keys = keyStoresFor(config, process.env, passphrase());
        const store = shared?.store ?? (await openDataStore(config)).store;
        const ops = new CaOperations(config.dataDir, keys, store, shared ? { directory: shared.directory, holder } : undefined);
        try {
          if (action === 'rotate' && v['new-root'] === true) {
            const result = await ops.rotateRoot(hierarchyOptions(v), operatorActor());
            const cross = result.crossSignedBy.length ? `cross-signed by ${result.crossSignedBy.join(', ')}` : 'not cross-signed (no old root key here)';
            process.stdout.write(`new root ${result.root}; roots ${result.retiringRoots.join(', ') || 'none'} retiring (kept in the trust bundle)\nnew active issuer ${result.created} under ${result.root}, ${cross}; retiring ${result.retired.join(', ') || 'none'}\n`);
          } else if (action === 'rotate') {
            const result = await ops.rotate(hierarchyOptions(v), operatorActor());
            process.stdout.write(`new active issuer ${result.created}; retiring ${result.retired.join(', ') || 'none'}\n`);
          } else if (action === 'archive') {
            if (v['new-root'] !== undefined) throw new UsageError('--new-root only goes with rotate');
            await ops.archive(str('issuer'), operatorActor());
            process.stdout.write(`archived ${str('issuer')}\n`);
          } else {
            await ops.destroyKey(str('issuer'), operatorActor());
            process.stdout.write(`destroyed the key of ${str('issuer')}\n`);
          }
        } finally {
          keys.close();
          if (!shared) await store.close();
        }
        if (action !== 'retire-key') signalServer(config.dataDir);
        if (action === 'rotate') process.stdout.write(describe(config.dataDir) + '\n');
        return 0;
      }
      case 'export-root-key':
        exportRootKey(config.dataDir, typeof v.root === 'string' ? v.root : 'root', str('out'));
        process.stdout.write(`exported the encrypted root key to ${str('out')}; store it offline, then: anvil ca remove-root-key\n`);
        return 0;
      case 'remove-root-key': {
        const keys = keyStoresFor(config, process.env, passphrase());
        await changing(async () => removeRootKey(config.dataDir, keys, typeof v.root === 'string' ? v.root : 'root')).finally(() => keys.close());
        process.stdout.write('removed the root key from the data directory\n');
        return 0;
      }
      case 'import-root-key':
        await changing(async () => importRootKey(config.dataDir, passphrase(), typeof v.root === 'string' ? v.root : 'root', str('in')));
        process.stdout.write('root key restored\n');
        return 0;
      default:
        throw unknownWord('action', action ?? '', ['status', 'rotate', 'bundle', 'archive', 'retire-key', 'export-root-key', 'remove-root-key', 'import-root-key']);
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    process.stderr.write(`anvil ca ${action}: ${(e as Error).message}\n`);
    return 1;
  }
}

