/**
 * Wires Anvil's parts once: profiles, validators, domain services, revocation, and the HTTP
 * applications that expose them. Everything a request can reach is built here.
 */
import type { SharedDirectory } from './ops/shared-directory.js';
import { sqlitePath } from './store/open-store.js';
import { auditKeyFrom } from './store/audit-chain.js';
import type { Logger } from 'pino';
import type { Express } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Links } from './acme/links.js';
import { nonceKeyFrom, SharedNonceService } from './acme/shared-nonces.js';
import { LeaseKeeper } from './ops/lease-keeper.js';
import { problems } from './acme/problem.js';
import { loadCa, type CaMaterial } from './ca/ca-directory.js';
import type { SignerGuardOptions } from './ca/guarded-signer.js';
import type { KeyStores } from './ca/key-stores.js';
import type { Issuer } from './ca/issuer.js';
import type { Config } from './config/load.js';
import { AccountService } from './domain/accounts.js';
import { AuthorizationService } from './domain/authorizations.js';
import { IssuanceService } from './domain/issuance.js';
import { OrderService } from './domain/orders.js';
import { RenewalInfoService } from './domain/renewal-info.js';
import { RevocationService } from './domain/revocation.js';
import { ValidationQueue } from './domain/validation-queue.js';
import { createAcmeApp } from './http/app.js';
import type { HttpContext } from './http/context.js';
import { revocationHandler, revocationListener } from './http/revocation-routes.js';
import type { Profile } from './profiles/profile.js';
import { ProfileRegistry } from './profiles/profile-set.js';
import { startRevocation, type RevocationSystem } from './revocation/revocation-system.js';
import type { Store } from './store/store.js';
import type { AccountRecord } from './store/types.js';
import { isIP } from 'node:net';
import { revocationTimingProblems } from './revocation/timing.js';
import { join } from 'node:path';
import { ExternalAccounts } from './domain/external-accounts.js';
import { CaOperations } from './domain/ca-operations.js';
import { RateLimiter } from './domain/rate-limits.js';
import type { AdminContext } from './ops/admin-api.js';
import { createAdminApp } from './ops/admin-app.js';
import { SessionSealer } from './ops/ui/sessions.js';
import { AUDIT_CHECKPOINT_FILE } from './ops/audit-checkpoints.js';
import { AnomalyDetector, loadThresholds, type AnomalyThresholds } from './ops/anomalies.js';
import { Maintenance } from './ops/maintenance.js';
import { parseDuration } from './config/settings.js';
import { Readiness } from './ops/health.js';
import { setScrapeSources } from './ops/metrics.js';
import { FULL_CRL } from './store/types.js';
import { buildValidatorRegistry } from './validators/build-registry.js';
import { loadValidatorsConfig } from './validators/validators-config.js';

export interface AnvilParts {
  acmeApp: Express;
  adminApp: Express;
  anomalies: AnomalyDetector;
  leases: LeaseKeeper;
  /** Re-reads the profiles directory; a bad file keeps the running set and is reported. */
  reloadProfiles(): { ok: true; loaded: string[]; changed: string[] } | { ok: false; error: string };
  revocationApp: (req: IncomingMessage, res: ServerResponse) => void;
  profiles: ProfileRegistry;
  revocation: RevocationSystem;
  /** Picks up CA manifest changes (an issuer rotation): new issuers get OCSP responders. */
  reloadCa(): Promise<void>;
  /** Re-runs work a crash interrupted (orders left processing, validations left running), then watches for work other processes leave. */
  recover(): Promise<{ orders: number; validations: number }>;
  stop(): Promise<void>;
}

export interface SharedDirectories {
  ca?: SharedDirectory;
  /** `source` is the operator's profile directory, copied in and published on each reload here. */
  profiles?: { directory: SharedDirectory; source: string };
}

export interface Endpoints {
  baseUrl: string;
  revocationBaseUrl: string | undefined;
}

export async function buildAnvil(
  config: Config,
  ca: CaMaterial,
  keys: KeyStores,
  guard: SignerGuardOptions,
  passphrase: string,
  store: Store,
  endpoints: Endpoints,
  profilesDir: string,
  log: Logger,
  /** On a shared store: the directories every instance follows (the profiles' copy is `profilesDir`). */
  shared: SharedDirectories = {},
): Promise<AnvilParts> {
  const links = new Links(endpoints.baseUrl, endpoints.revocationBaseUrl);

  const validatorsConfig = loadValidatorsConfig(config.validatorsConfig, links.directory());
  const issuerDomainNames = validatorsConfig.dnsPersistIssuerDomainNames ?? [defaultIssuerDomainName(endpoints.baseUrl)];
  const { registry: validators, known: knownChallenges } = await buildValidatorRegistry(
    { ...config, defaultIssuerDomainName: defaultIssuerDomainName(endpoints.baseUrl), accountHashPrefix: links.accountHashPrefix() },
    validatorsConfig,
    store,
    log,
  );

  const issuerById = (id: string): Issuer | undefined => ca.issuers.find((i) => i.id === id);
  const profiles = new ProfileRegistry(profilesDir, config.defaultProfile, (p) => {
    checkProfileContext(p, knownChallenges, issuerById);
    for (const problem of revocationTimingProblems(p, config)) log.warn({ profile: p.name }, problem);
  });
  const externalAccounts = new ExternalAccounts(store, passphrase);
  const limits = new RateLimiter(store, config.rateLimits);
  // Periodic work runs on one process or instance at a time, under leases kept in the store.
  const leases = new LeaseKeeper({ store, log });
  await leases.start();
  const thresholds = loadThresholds(config.anomalyConfig);
  const anomalies = new AnomalyDetector(store, thresholds, log, () => leases.holds('anomalies'));
  const maintenance = new Maintenance({
    store,
    log,
    retentionMs: config.retentionMs,
    certificateRetentionMs: config.certificateRetentionMs,
    crlRetentionMs: 2 * config.crlLifetimeMs,
    expiredOcspGraceMs: config.ocspResponseLifetimeMs,
    counterHorizonMs: counterHorizon(config, thresholds),
    intervalMs: config.maintenanceIntervalMs,
    mayRun: () => leases.holds('maintenance'),
  });
  const issuerFor = (profile: Profile): Issuer => (profile.issuer === 'active' ? ca.active : (issuerById(profile.issuer) ?? ca.active));

  const revocation = await startRevocation({ ...config, passphrase, holdsLease: (task) => leases.holds(task) }, () => ca.issuers, store, links, log);
  const queue = new ValidationQueue({
    store,
    validators,
    log,
    concurrency: config.validationConcurrency,
    timeoutMs: config.validationTimeoutMs,
    validAuthzLifetimeMs: config.validAuthzLifetimeMs,
    accountUrl: links.account,
  });
  const issuance = new IssuanceService({
    store,
    profile: (name) => profiles.get(name),
    issuerFor,
    revocationUrls: (issuerId, shard) => ({ ocsp: links.ocsp(), crl: links.crlShard(issuerId, shard) }),
    crlShards: config.crlShards,
    presignOcsp: revocation.presignGood,
    log,
  });
  const revocationService = new RevocationService(store, revocation.hooks);
  const renewalInfo = new RenewalInfoService({ store, issuers: () => ca.issuers, isIssuerRetiring: (id) => ca.statusOf(id) === 'retiring' });

  const ctx: HttpContext = {
    links,
    // Valid on every process and instance sharing the store, redeemed once on any of them.
    nonces: new SharedNonceService(nonceKeyFrom(passphrase), store),
    store,
    accounts: new AccountService(
      store,
      { termsOfService: config.termsOfService, externalAccountRequired: config.externalAccountRequired, newAccountUrl: links.newAccount() },
      externalAccounts,
      limits,
    ),
    orders: new OrderService({
      store,
      validators,
      policy: {
        orderLifetimeMs: config.orderLifetimeMs,
        pendingAuthzLifetimeMs: config.pendingAuthzLifetimeMs,
        authzReuseWindowMs: config.authzReuseWindowMs,
      },
      resolveProfile: (name, account) => resolveProfile(profiles, name, account),
      checkReplaces: (account, identifiers, replaces) => renewalInfo.checkReplaces(account, identifiers, replaces),
      eabPolicy: (account) => externalAccounts.policyFor(account),
      limits,
      validAuthzLifetimeMs: config.validAuthzLifetimeMs,
    }),
    authorizations: new AuthorizationService(store, queue, validators),
    issuance,
    revocation: revocationService,
    renewalInfo,
    alternateChains: (issuerId) => issuerById(issuerId)?.alternateChainPems ?? [],
    trustBundle: () => ca.bundle(),
    describeChallenge: (accountId) => {
      const context = { accountUrl: links.account(accountId) };
      return (c) => {
        const v = validators.get(c.type);
        return { fields: v?.describe?.(context) ?? {}, tokenless: v?.tokenless === true };
      };
    },
    directoryMeta: () => ({
      ...(config.termsOfService ? { termsOfService: config.termsOfService } : {}),
      ...(config.website ? { website: config.website } : {}),
      externalAccountRequired: config.externalAccountRequired,
      caaIdentities: issuerDomainNames,
      issuerDomainNames,
      accountHashPrefix: links.accountHashPrefix(),
      profiles: Object.fromEntries(profiles.all().map((p) => [p.name, p.description])),
    }),
    maxRequestBytes: config.maxRequestBytes,
    log,
  };
  const revocationRoutes = revocationHandler({
    ocsp: revocation.ocsp,
    crl: revocation.crl,
    issuer: revocation.issuer,
    crlShards: config.crlShards,
    log,
  });

  const reloadCa = async () => {
    loadCa(config.dataDir, keys, guard, ca);
    await revocation.refreshResponders();
  };
  /** Re-reads the profiles; `fromSource` (a reload asked for here) first takes the operator's directory and then shares the result. */
  const reloadProfilesFrom = (fromSource: boolean) => {
    try {
      if (fromSource) shared.profiles?.directory.copyFrom(shared.profiles.source);
      const result = profiles.reload();
      void store.appendAudit({ actor: 'system', action: 'profiles.reloaded', subject: shared.profiles?.source ?? profilesDir, data: result });
      log.info(result, 'profiles reloaded');
      if (fromSource && shared.profiles) void shared.profiles.directory.publish().catch((e) => log.error({ err: (e as Error).message }, 'could not share the reloaded profiles'));
      return { ok: true as const, ...result };
    } catch (e) {
      log.error({ err: (e as Error).message }, 'profile reload refused; the previous profiles stay in force');
      return { ok: false as const, error: (e as Error).message };
    }
  };
  const reloadProfiles = () => reloadProfilesFrom(true);
  const stopProfileWatch = shared.profiles?.directory.watch(1_000, async () => reloadProfilesFrom(false), log);
  const adminContext: AdminContext = {
    store,
    auditKey: auditKeyFrom(passphrase),
    ca,
    revocation: revocationService,
    externalAccounts,
    caOperations: new CaOperations(config.dataDir, keys, store, shared.ca ? { directory: shared.ca, holder: leases.instanceId } : undefined),
    reloadProfiles,
    reloadCa,
    anomalies: () => anomalies.current(),
    renewalInfo,
    profileNames: () => profiles.all().map((p) => p.name),
    instanceId: leases.instanceId,
    auditCheckpointFile: config.auditCheckpointFile ?? join(config.dataDir, AUDIT_CHECKPOINT_FILE),
    sessions: new SessionSealer(passphrase, config.uiSessionLifetimeMs),
    log,
  };
  setScrapeSources({
    crlAges: async () => {
      const out = [];
      for (const issuer of ca.issuers) {
        for (const shard of [FULL_CRL, ...Array.from({ length: config.crlShards }, (_, i) => i)]) {
          const crl = await store.getCrl(issuer.id, shard);
          if (crl) out.push({ issuer: issuer.id, shard: shard === FULL_CRL ? 'full' : String(shard), ageSeconds: (Date.now() - crl.thisUpdate.getTime()) / 1000 });
        }
      }
      return out;
    },
    expiringWithin24h: () => store.countExpiringCertificates(new Date(), new Date(Date.now() + 86_400_000)),
    anomalies: () => anomalies.counts(),
  });
  anomalies.start(config.anomalyIntervalMs);
  maintenance.start();
  let orderSweeper: NodeJS.Timeout | undefined;

  return {
    acmeApp: createAcmeApp(ctx, revocationRoutes),
    adminApp: createAdminApp(adminContext, new Readiness(store, config.databaseUrl ? undefined : sqlitePath(config.dataDir), ca)),
    reloadProfiles,
    anomalies,
    leases,
    revocationApp: revocationListener(revocationRoutes),
    profiles,
    revocation,
    reloadCa,
    recover: async () => {
      // One process on its own SQLite file: whatever is in progress was left by a dead process.
      // On PostgreSQL other instances may be running it right now: only lapsed claims are taken.
      const sole = !config.databaseUrl && config.workers === 1;
      const recovered = { orders: await issuance.recover(sole), validations: await queue.resume(sole) };
      queue.startSweeper();
      orderSweeper = setInterval(() => {
        issuance.recover().catch((e) => log.warn({ err: (e as Error).message }, 'issuance takeover sweep failed'));
      }, 10_000).unref();
      return recovered;
    },
    stop: async () => {
      clearInterval(orderSweeper);
      stopProfileWatch?.();
      setScrapeSources(undefined);
      await anomalies.stop();
      await maintenance.stop();
      await queue.drain(10_000);
      await revocation.stop();
      await leases.stop();
    },
  };
}

/** How long event counters must be kept: the longest window any rate limit or anomaly scan sums over. */
function counterHorizon(config: Config, t: AnomalyThresholds): number {
  const ms = (d: string) => parseDuration(d) ?? 0;
  const windows = [
    ...Object.values(config.rateLimits).map((l) => l?.windowMs ?? 0),
    ms(t.issuanceBaseline) + ms(t.issuanceWindow),
    ms(t.issuanceBaseline) + ms(t.revocationWindow),
  ];
  return Math.max(...windows) + 3_600_000;
}

/** dns-persist-01's default issuer domain name: the base URL's host when it is a DNS name. */
export function defaultIssuerDomainName(baseUrl: string): string {
  const host = new URL(baseUrl).hostname;
  return isIP(host.replace(/^\[|\]$/g, '')) === 0 && host.includes('.') ? host.toLowerCase() : 'anvil.internal';
}

/** Profile rules that depend on this server: its challenge types and its issuers. */
function checkProfileContext(p: Profile, known: Set<string>, issuer: (id: string) => Issuer | undefined): void {
  const unknown = p.challenges.filter((t) => !known.has(t));
  if (unknown.length > 0) throw new Error(`field challenges: unknown challenge type ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  if (p.issuer !== 'active' && !issuer(p.issuer)) throw new Error(`field issuer: no issuer ${p.issuer} in the CA manifest`);
}

/** draft-ietf-acme-profiles §4: an unknown or not-permitted profile is invalidProfile. */
function resolveProfile(profiles: ProfileRegistry, name: unknown, account: AccountRecord): Profile {
  if (name === undefined) return profiles.defaultProfile;
  if (typeof name !== 'string') throw problems.malformed('"profile" must be a string');
  const profile = profiles.get(name);
  if (!profile) throw problems.invalidProfile(`profile ${JSON.stringify(name)} is not offered; see the directory's meta.profiles`);
  if (profile.access === 'eab' && !account.externalAccountId) {
    throw problems.invalidProfile(`profile ${name} is only for accounts bound through External Account Binding`);
  }
  return profile;
}
