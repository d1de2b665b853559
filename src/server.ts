/**
 * Starts and stops Anvil: wires every dependency once (store, CA, profiles, validators, domain
 * services, HTTP edge), listens, recovers work interrupted by a crash, and shuts down gracefully.
 */
import { mkdirSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { Links } from './acme/links.js';
import { MemoryNonceService } from './acme/nonces.js';
import { problems } from './acme/problem.js';
import { openCa, type CaMaterial } from './ca/ca-directory.js';
import { resolvePassphrase } from './ca/passphrase.js';
import { ensureServerTls } from './ca/server-tls.js';
import type { Config } from './config/load.js';
import { AccountService } from './domain/accounts.js';
import { AuthorizationService } from './domain/authorizations.js';
import { IssuanceService } from './domain/issuance.js';
import { OrderService } from './domain/orders.js';
import { RevocationService } from './domain/revocation.js';
import { ValidationQueue } from './domain/validation-queue.js';
import { createAcmeApp, createRevocationApp } from './http/app.js';
import { revocationRoutes, type RevocationHttpContext } from './http/revocation-routes.js';
import { startRevocation } from './revocation/revocation-system.js';
import type { HttpContext } from './http/context.js';
import { loadProfiles, type ProfileSet } from './profiles/profile-set.js';
import { SqliteStore } from './store/sqlite/sqlite-store.js';
import type { Store } from './store/store.js';
import { Http01Validator } from './validators/http-01.js';
import { DnsResolver } from './validators/resolver.js';
import { ValidatorRegistry } from './validators/validator.js';

/** The acme-profiles/ directory shipped beside the package (dist/src/server.js → ../../). */
export const BUNDLED_PROFILES_DIR = fileURLToPath(new URL('../../acme-profiles/', import.meta.url));

export interface RunningServer {
  baseUrl: string;
  directoryUrl: string;
  rootPemPath: string;
  log: Logger;
  /** Stops accepting, drains in-flight requests and validations (bounded), closes the store. */
  close(): Promise<void>;
}

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'anvil' },
    // Defence in depth: these fields must never be logged, but if one is, it is redacted.
    redact: { paths: ['passphrase', '*.passphrase', 'privateKey', '*.privateKey', 'hmacKey', '*.hmacKey', 'token', '*.token', 'authorization', '*.authorization'], censor: '[redacted]' },
  });
}

export async function startServer(config: Config, env: NodeJS.ProcessEnv, log: Logger = createLogger(config.logLevel)): Promise<RunningServer> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const secret = resolvePassphrase(env, config.keyPassphraseFile, config.dataDir);
  if (secret.devFile) {
    log.warn(
      { file: secret.devFile },
      'DEVELOPMENT MODE: CA keys are encrypted with a generated passphrase stored beside them. Set ANVIL_KEY_PASSPHRASE or --key-passphrase-file for any real use.',
    );
  }
  const ca = await openCa(config.dataDir, secret.passphrase);
  if (ca.created) log.warn({ root: ca.rootPemPath, issuer: ca.active.id }, 'created a development CA (root + intermediate)');
  const profiles = loadProfiles(config.profilesDir ?? BUNDLED_PROFILES_DIR, config.defaultProfile);
  const store: Store = new SqliteStore(join(config.dataDir, 'anvil.db'), { durability: config.sqliteDurability });

  const server = await listen(config, ca, secret.passphrase);
  const address = server.address() as AddressInfo;
  const baseUrl = config.baseUrl ?? defaultBaseUrl(config, address.port);
  const revocationServer = config.revocationListen ? await listenPlain(config.revocationListen) : undefined;
  const revocationBaseUrl = config.revocationBaseUrl ?? (revocationServer ? plainBaseUrl(revocationServer) : undefined);
  const links = new Links(baseUrl, revocationBaseUrl);
  const revocation = await startRevocation(
    { ...config, passphrase: secret.passphrase },
    ca.issuers,
    store,
    links,
    log,
  );

  const validators = new ValidatorRegistry();
  validators.register(new Http01Validator({ port: config.http01Port, resolver: new DnsResolver(config.dnsResolvers) }));
  const queue = new ValidationQueue({
    store,
    validators,
    log,
    concurrency: config.validationConcurrency,
    timeoutMs: config.validationTimeoutMs,
    validAuthzLifetimeMs: config.validAuthzLifetimeMs,
  });
  const issuance = new IssuanceService({
    store,
    profile: (name) => profiles.byName.get(name),
    issuerFor: () => ca.active,
    revocationUrls: (issuerId, shard) => ({ ocsp: links.ocsp(), crl: links.crlShard(issuerId, shard) }),
    crlShards: config.crlShards,
    onIssued: revocation.onIssued,
    log,
  });
  const ctx: HttpContext = {
    links,
    nonces: new MemoryNonceService(),
    store,
    accounts: new AccountService(store, { termsOfService: config.termsOfService, externalAccountRequired: config.externalAccountRequired }),
    orders: new OrderService({
      store,
      validators,
      policy: {
        orderLifetimeMs: config.orderLifetimeMs,
        pendingAuthzLifetimeMs: config.pendingAuthzLifetimeMs,
        authzReuseWindowMs: config.authzReuseWindowMs,
      },
      resolveProfile: (name) => resolveProfile(profiles, name),
    }),
    authorizations: new AuthorizationService(store, queue),
    issuance,
    revocation: new RevocationService(store, revocation.hooks),
    directoryMeta: () => ({
      ...(config.termsOfService ? { termsOfService: config.termsOfService } : {}),
      ...(config.website ? { website: config.website } : {}),
      externalAccountRequired: config.externalAccountRequired,
      profiles: Object.fromEntries([...profiles.byName.values()].map((p) => [p.name, p.description])),
    }),
    maxRequestBytes: config.maxRequestBytes,
    log,
  };
  const revocationHttp: RevocationHttpContext = {
    ocsp: revocation.ocsp,
    crl: revocation.crl,
    issuer: revocation.issuer,
    crlShards: config.crlShards,
    log,
  };
  server.on('request', createAcmeApp(ctx, revocationRoutes(revocationHttp)));
  revocationServer?.on('request', createRevocationApp(revocationRoutes(revocationHttp)));

  const recoveredOrders = await issuance.recover();
  const resumedValidations = await queue.resume();
  if (recoveredOrders + resumedValidations > 0) log.info({ recoveredOrders, resumedValidations }, 'resumed work interrupted by the last stop');

  const directoryUrl = links.directory();
  log.info({ directoryUrl, root: ca.rootPemPath, issuer: ca.active.id, profiles: [...profiles.byName.keys()] }, 'anvil is serving');

  let closing: Promise<void> | undefined;
  return {
    baseUrl,
    directoryUrl,
    rootPemPath: ca.rootPemPath,
    log,
    close: () =>
      (closing ??= (async () => {
        await Promise.all([server, revocationServer].map((s) => s && closeServer(s)));
        await queue.drain(10_000);
        await revocation.stop();
        await store.close();
        log.info('anvil stopped');
      })()),
  };
}

/** Stops accepting, lets in-flight requests finish (bounded), then cuts what is left. */
async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const drained = await Promise.race([closed.then(() => true), delay(10_000).then(() => false)]);
  if (!drained) server.closeAllConnections();
}

async function listenPlain(at: { host: string; port: number }): Promise<Server> {
  const server = createHttpServer();
  await bind(server, at);
  return server;
}

function plainBaseUrl(server: Server): string {
  const a = server.address() as AddressInfo;
  return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
}

async function bind(server: Server, at: { host: string; port: number }): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function resolveProfile(profiles: ProfileSet, name: unknown) {
  if (name === undefined) return profiles.defaultProfile;
  if (typeof name !== 'string') throw problems.malformed('"profile" must be a string');
  const profile = profiles.byName.get(name);
  if (!profile) throw problems.invalidProfile(`profile ${JSON.stringify(name)} is not offered; see the directory's meta.profiles`);
  return profile;
}

async function listen(config: Config, ca: CaMaterial, passphrase: string): Promise<Server> {
  let server: Server;
  if (config.plainHttp) {
    server = createHttpServer();
  } else {
    const tls = config.tlsCert
      ? { certPem: readFileSync(config.tlsCert, 'utf8'), keyPem: readFileSync(config.tlsKey!, 'utf8'), passphrase }
      : await ensureServerTls(config.dataDir, ca.active, passphrase, tlsHosts(config));
    server = createHttpsServer({ cert: tls.certPem, key: tls.keyPem, passphrase: tls.passphrase });
  }
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  await bind(server, config.listen);
  return server;
}

/** Names the self-issued listener certificate covers beyond localhost/127.0.0.1/::1. */
function tlsHosts(config: Config): string[] {
  const hosts: string[] = [];
  if (config.baseUrl) hosts.push(new URL(config.baseUrl).hostname.replace(/^\[|\]$/g, ''));
  const h = config.listen.host;
  if (h !== '0.0.0.0' && h !== '::') hosts.push(h);
  return hosts;
}

function defaultBaseUrl(config: Config, port: number): string {
  const scheme = config.plainHttp ? 'http' : 'https';
  let host = config.listen.host;
  if (host === '0.0.0.0' || host === '::') host = 'localhost';
  if (isIP(host) === 6) host = `[${host}]`;
  return `${scheme}://${host}:${port}`;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
