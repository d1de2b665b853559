/**
 * Starts and stops Anvil: opens the data directory (CA, store), binds the listeners, wires the
 * parts (app.ts), recovers work interrupted by a crash, and shuts down gracefully.
 */
import { auditKeyFrom } from './store/audit-chain.js';
import { hostname } from 'node:os';
import { mkdirSync, unwatchFile, watchFile } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { buildAnvil, type AnvilParts } from './app.js';
import type { Config } from './config/load.js';
import { closeServer, defaultBaseUrl, listenAcme, listenPlain, plainBaseUrl } from './http/listeners.js';
import { AUDIT_CHECKPOINT_FILE, startAuditCheckpoints } from './ops/audit-checkpoints.js';
import { createLogger } from './ops/logger.js';
import { openCaAndStore } from './open-data.js';
import { metrics, startEventLoopMonitor, timed } from './ops/metrics.js';
import type { Store } from './store/store.js';

export { createLogger };

/** The acme-profiles/ directory shipped beside the package (dist/src/server.js → ../../). */
export const BUNDLED_PROFILES_DIR = fileURLToPath(new URL('../../acme-profiles/', import.meta.url));

export interface RunningServer {
  baseUrl: string;
  directoryUrl: string;
  rootPemPath: string;
  /** Base of the OCSP and CRL URLs in certificates (the plain-HTTP revocation listener by default). */
  revocationBaseUrl: string;
  log: Logger;
  parts: AnvilParts;
  /** Re-reads the CA manifest (after `anvil ca rotate`); failures keep the running hierarchy. */
  reloadCa(): Promise<boolean>;
  /** Base URL of the admin listener (metrics, health, admin API). */
  adminUrl: string;
  /** Re-reads the profiles directory; a bad file keeps the running set and is reported. */
  reloadProfiles(): { ok: true; loaded: string[]; changed: string[] } | { ok: false; error: string };
  /** Stops accepting, drains in-flight requests and validations (bounded), closes the store. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Bind the admin listener exclusively (a cluster worker's own, on the address given). */
  privateAdmin?: boolean;
}

export async function startServer(config: Config, env: NodeJS.ProcessEnv, log: Logger = createLogger(config.logLevel), options: StartOptions = {}): Promise<RunningServer> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  startEventLoopMonitor();
  const profilesSource = config.profilesDir ?? BUNDLED_PROFILES_DIR;
  const { opened, store: rawStore, shared } = await openCaAndStore(config, env, log, `${hostname()}:${process.pid}`, profilesSource);
  const { ca } = opened;
  const secret = { passphrase: opened.passphrase };
  if (opened.devPassphraseFile) {
    log.warn(
      { file: opened.devPassphraseFile },
      'DEVELOPMENT MODE: CA keys are encrypted with a generated passphrase stored beside them. Set ANVIL_KEY_PASSPHRASE or --key-passphrase-file for any real use.',
    );
  }
  if (ca.created) log.warn({ root: ca.rootPemPath, issuer: ca.active.id }, 'created a development CA (root + intermediate)');
  const store = timed<Store>(rawStore, metrics.storeSeconds, metrics.storeErrors);

  const servers: Server[] = [];
  try {
    const acmeServer = await listenAcme(config, ca.active, secret.passphrase);
    servers.push(acmeServer);
    const revocationServer = config.revocationListen ? await listenPlain(config.revocationListen) : undefined;
    if (revocationServer) servers.push(revocationServer);
    // A cluster worker's admin listener is private to it: the primary serves the configured
    // address (aggregated metrics) and forwards the rest to one worker (see cluster.ts).
    const adminServer = await listenPlain(config.adminListen, options.privateAdmin === true);
    servers.push(adminServer);
    const baseUrl = config.baseUrl ?? defaultBaseUrl(config, acmeServer);
    const revocationBaseUrl = config.revocationBaseUrl ?? (revocationServer ? plainBaseUrl(revocationServer) : undefined);

    const parts = await buildAnvil(config, ca, opened.keys, opened.guard, secret.passphrase, store, { baseUrl, revocationBaseUrl }, shared.profiles?.directory.dir ?? profilesSource, log, shared);
    acmeServer.on('request', parts.acmeApp);
    revocationServer?.on('request', parts.revocationApp);
    adminServer.on('request', parts.adminApp);
    if (config.trustProxy) parts.acmeApp.set('trust proxy', true);

    const recovered = await parts.recover();
    if (recovered.orders + recovered.validations > 0) log.info(recovered, 'resumed work interrupted by the last stop');
    const checkpoints =
      config.auditCheckpointIntervalMs > 0
        ? startAuditCheckpoints({ store, auditKey: auditKeyFrom(opened.passphrase), file: config.auditCheckpointFile ?? join(config.dataDir, AUDIT_CHECKPOINT_FILE), intervalMs: config.auditCheckpointIntervalMs, log })
        : undefined;
    const directoryUrl = `${baseUrl}/directory`;
    log.info({ directoryUrl, admin: plainBaseUrl(adminServer), root: ca.rootPemPath, issuer: ca.active.id, profiles: parts.profiles.all().map((p) => p.name) }, 'anvil is serving');

    const reloadCa = async () => {
      try {
        const before = ca.bundleVersion;
        await parts.reloadCa();
        if (ca.bundleVersion !== before) log.info({ active: ca.active.id, issuers: ca.issuers.map((i) => `${i.id}:${i.status}`), bundleVersion: ca.bundleVersion }, 'CA manifest reloaded');
        return true;
      } catch (e) {
        log.error({ err: (e as Error).message }, 'CA manifest reload failed; the running hierarchy stays in force');
        return false;
      }
    };
    // Rotations by `anvil ca rotate` (here or on another instance sharing the data) are picked up
    // within a couple of seconds even without a SIGHUP.
    const manifestFile = join(ca.caDir, 'manifest.json');
    watchFile(manifestFile, { interval: 2000, persistent: false }, (now, before) => {
      if (now.mtimeMs !== before.mtimeMs) void reloadCa();
    });
    // On a shared store, a change any instance publishes (a rotation through its admin API or
    // the CLI) arrives here within a second or two.
    const stopSharedCa = shared.ca?.watch(1_000, reloadCa, log);

    let closing: Promise<void> | undefined;
    return {
      baseUrl,
      directoryUrl,
      rootPemPath: ca.rootPemPath,
      revocationBaseUrl: revocationBaseUrl ?? baseUrl,
      log,
      parts,
      reloadCa,
      adminUrl: plainBaseUrl(adminServer),
      reloadProfiles: parts.reloadProfiles,
      close: () =>
        (closing ??= (async () => {
          unwatchFile(manifestFile);
          stopSharedCa?.();
          await Promise.all(servers.map(closeServer));
          await parts.stop();
          await checkpoints?.stop();
          await store.close();
          opened.keys.close();
          log.info('anvil stopped');
        })()),
    };
  } catch (e) {
    await Promise.all(servers.map(closeServer));
    await store.close();
    throw e;
  }
}
