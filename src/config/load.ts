/**
 * Configuration = defaults → config file → environment → flags, each value checked once with an
 * error that names the setting and where the bad value came from.
 */
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseLimit, type Limit } from '../domain/rate-limits.js';
import { CONFIG_FLAG, SETTINGS, parseDuration, parseHostPort, type SettingSpec } from './settings.js';

export interface Config {
  listen: { host: string; port: number };
  /** Explicit public base URL, without trailing slash; undefined = derive from the bound address. */
  baseUrl: string | undefined;
  dataDir: string;
  plainHttp: boolean;
  extraInstance: boolean;
  addressLookup: 'auto' | 'system' | 'dns';
  logFormat: 'auto' | 'json' | 'pretty';
  auditCheckpointIntervalMs: number;
  auditCheckpointFile: string | undefined;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  http01Port: number;
  tlsAlpn01Port: number;
  dnsResolvers: string[];
  logLevel: string;
  keyPassphraseFile: string | undefined;
  termsOfService: string | undefined;
  website: string | undefined;
  externalAccountRequired: boolean;
  profilesDir: string | undefined;
  defaultProfile: string;
  orderLifetimeMs: number;
  pendingAuthzLifetimeMs: number;
  validAuthzLifetimeMs: number;
  authzReuseWindowMs: number;
  validationTimeoutMs: number;
  validationConcurrency: number;
  maxRequestBytes: number;
  sqliteDurability: 'group' | 'full' | 'normal';
  rateLimits: {
    ordersPerAccount?: Limit;
    ordersPerDomain?: Limit;
    ordersPerProfile?: Limit;
    failedValidationsPerAccount?: Limit;
    accountsPerIp?: Limit;
  };
  trustProxy: boolean;
  adminListen: { host: string; port: number };
  uiSessionLifetimeMs: number;
  anomalyIntervalMs: number;
  anomalyConfig: string | undefined;
  retentionMs: number;
  workers: number;
  /** PostgreSQL store when set; the embedded SQLite store otherwise. */
  databaseUrl?: string;
  databasePoolSize: number;
  certificateRetentionMs: number;
  maintenanceIntervalMs: number;
  pkcs11Module: string | undefined;
  pkcs11Token: string | undefined;
  pkcs11PinFile: string | undefined;
  signerTimeoutMs: number;
  validatorsConfig: string | undefined;
  revocationListen: { host: string; port: number } | undefined;
  revocationBaseUrl: string | undefined;
  ocspResponseLifetimeMs: number;
  ocspResponderValidityMs: number;
  crlShards: number;
  crlLifetimeMs: number;
  crlRevocationDelayMs: number;
}

/** A setting failed its check; the message names the setting and the source of the value. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Source = { label: string; value: unknown };

function check(spec: SettingSpec, source: Source): unknown {
  const bad = (expected: string): never => {
    throw new ConfigError(`invalid setting ${spec.key} (from ${source.label}): expected ${expected}, got ${JSON.stringify(source.value)}`);
  };
  const raw = source.value;
  const text = typeof raw === 'string' ? raw.trim() : raw;
  switch (spec.kind) {
    case 'string':
      if (typeof text !== 'string' || text === '') bad('a non-empty string');
      return text;
    case 'int': {
      if (spec.allowAuto && text === 'auto') return Math.min(availableParallelism(), spec.max ?? Number.MAX_SAFE_INTEGER);
      const n = typeof text === 'number' ? text : typeof text === 'string' && /^\d+$/.test(text) ? Number(text) : NaN;
      if (!Number.isInteger(n) || n < (spec.min ?? 0) || n > (spec.max ?? Number.MAX_SAFE_INTEGER)) {
        bad(`an integer from ${spec.min ?? 0} to ${spec.max ?? Number.MAX_SAFE_INTEGER}`);
      }
      return n;
    }
    case 'bool':
      if (typeof text === 'boolean') return text;
      if (text === 'true' || text === '1' || text === 'yes') return true;
      if (text === 'false' || text === '0' || text === 'no') return false;
      return bad('true or false');
    case 'duration': {
      const ms = typeof text === 'string' ? parseDuration(text) : undefined;
      if (ms === undefined) bad('a duration such as 90s, 15m, 24h or 7d');
      return ms;
    }
    case 'list': {
      const items = Array.isArray(text) ? text : typeof text === 'string' ? text.split(',') : bad('a comma-separated list');
      const list = (items as unknown[]).map((i) => String(i).trim()).filter((i) => i !== '');
      for (const item of list) {
        const hp = parseHostPort(item);
        if (!hp || isIP(hp.host) === 0) bad('a comma-separated list of IP:port (e.g. 127.0.0.1:53,[::1]:53)');
      }
      return list;
    }
    case 'enum':
      if (typeof text !== 'string' || !spec.enumValues?.includes(text)) bad(`one of ${spec.enumValues?.join(', ')}`);
      return text;
    case 'url': {
      if (typeof text !== 'string') return bad('an http(s) URL');
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        return bad('an http(s) URL');
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') bad('an http(s) URL');
      return text.replace(/\/+$/, '');
    }
    case 'postgres-url': {
      // The URL may carry a password: the error names the expected form, never the value.
      const scheme = typeof text === 'string' ? /^(postgres|postgresql):\/\//.exec(text) : null;
      let parsed = false;
      try {
        parsed = scheme !== null && new URL(text as string) !== undefined;
      } catch {
        parsed = false;
      }
      if (!parsed) throw new ConfigError(`invalid setting ${spec.key} (from ${source.label}): expected a postgres:// or postgresql:// URL`);
      return text;
    }
    case 'limit': {
      if (typeof text !== 'string') return bad('<count>/<window> such as 300/1h, or off');
      try {
        return parseLimit(text) ?? null;
      } catch {
        return bad('<count>/<window> such as 300/1h, or off');
      }
    }
    case 'hostport': {
      if (spec.allowOff && text === 'off') return undefined;
      const hp = typeof text === 'string' ? parseHostPort(text) : undefined;
      if (!hp) bad('host:port, e.g. 127.0.0.1:8443 or [::1]:8443');
      return hp;
    }
  }
}

/** Options that stand for a setting on the command line, as given (strings, or true for bare bool flags). */
export type FlagValues = Record<string, string | boolean | undefined>;

export interface LoadInput {
  flags: FlagValues;
  env: NodeJS.ProcessEnv;
}

export function loadConfig({ flags, env }: LoadInput): Config {
  const values = new Map<string, unknown>();
  for (const spec of SETTINGS as readonly SettingSpec[]) {
    if (spec.default !== undefined) values.set(spec.key, check(spec, { label: 'default', value: spec.default }));
  }

  const configPath = (flags[CONFIG_FLAG.flag] as string | undefined) ?? env[CONFIG_FLAG.env];
  if (configPath) {
    let doc: unknown;
    try {
      doc = parseYaml(readFileSync(configPath, 'utf8'));
    } catch (e) {
      throw new ConfigError(`cannot read config file ${configPath}: ${(e as Error).message}`);
    }
    if (doc !== null && (typeof doc !== 'object' || Array.isArray(doc))) {
      throw new ConfigError(`config file ${configPath}: expected a mapping of settings`);
    }
    for (const [key, value] of Object.entries((doc ?? {}) as Record<string, unknown>)) {
      const spec = (SETTINGS as readonly SettingSpec[]).find((s) => s.key === key);
      if (!spec) throw new ConfigError(`config file ${configPath}: unknown setting ${key}`);
      values.set(key, check(spec, { label: `config file ${configPath}`, value }));
    }
  }

  for (const spec of SETTINGS as readonly SettingSpec[]) {
    const fromEnv = env[spec.env];
    if (fromEnv !== undefined && fromEnv !== '') values.set(spec.key, check(spec, { label: spec.env, value: fromEnv }));
    const fromFlag = flags[spec.flag];
    if (fromFlag !== undefined) values.set(spec.key, check(spec, { label: spec.flag, value: fromFlag }));
  }

  const get = <T>(key: string): T => values.get(key) as T;
  const config: Config = {
    listen: get('listen'),
    baseUrl: get('baseUrl'),
    dataDir: resolve(get<string>('dataDir')),
    plainHttp: get('plainHttp'),
    extraInstance: get('extraInstance'),
    addressLookup: get('addressLookup'),
    logFormat: get('logFormat'),
    auditCheckpointIntervalMs: get('auditCheckpointInterval'),
    auditCheckpointFile: get('auditCheckpointFile'),
    tlsCert: get('tlsCert'),
    tlsKey: get('tlsKey'),
    http01Port: get('http01Port'),
    tlsAlpn01Port: get('tlsAlpn01Port'),
    dnsResolvers: get<string[] | undefined>('dnsResolvers') ?? [],
    logLevel: get('logLevel'),
    keyPassphraseFile: get('keyPassphraseFile'),
    termsOfService: get('termsOfService'),
    website: get('website'),
    externalAccountRequired: get('externalAccountRequired'),
    profilesDir: get('profilesDir'),
    defaultProfile: get('defaultProfile'),
    orderLifetimeMs: get('orderLifetime'),
    pendingAuthzLifetimeMs: get('pendingAuthzLifetime'),
    validAuthzLifetimeMs: get('validAuthzLifetime'),
    authzReuseWindowMs: get('authzReuseWindow'),
    validationTimeoutMs: get('validationTimeout'),
    validationConcurrency: get('validationConcurrency'),
    maxRequestBytes: get('maxRequestBytes'),
    sqliteDurability: get('sqliteDurability'),
    rateLimits: definedOnly({
      ordersPerAccount: get<Limit | null>('rateLimitOrdersPerAccount') ?? undefined,
      ordersPerDomain: get<Limit | null>('rateLimitOrdersPerDomain') ?? undefined,
      ordersPerProfile: get<Limit | null>('rateLimitOrdersPerProfile') ?? undefined,
      failedValidationsPerAccount: get<Limit | null>('rateLimitFailedValidations') ?? undefined,
      accountsPerIp: get<Limit | null>('rateLimitAccountsPerIp') ?? undefined,
    }),
    trustProxy: get('trustProxy'),
    adminListen: get('adminListen'),
    uiSessionLifetimeMs: get('uiSessionLifetime'),
    anomalyIntervalMs: get('anomalyInterval'),
    anomalyConfig: get('anomalyConfig'),
    retentionMs: get('retention'),
    workers: get('workers'),
    databaseUrl: get('databaseUrl'),
    databasePoolSize: get('databasePoolSize'),
    certificateRetentionMs: get('certificateRetention'),
    maintenanceIntervalMs: get('maintenanceInterval'),
    pkcs11Module: get('pkcs11Module'),
    pkcs11Token: get('pkcs11Token'),
    pkcs11PinFile: get('pkcs11PinFile'),
    signerTimeoutMs: get('signerTimeout'),
    validatorsConfig: get('validatorsConfig'),
    revocationListen: get('revocationListen'),
    revocationBaseUrl: get('revocationBaseUrl'),
    ocspResponseLifetimeMs: get('ocspResponseLifetime'),
    ocspResponderValidityMs: get('ocspResponderValidity'),
    crlShards: get('crlShards'),
    crlLifetimeMs: get('crlLifetime'),
    crlRevocationDelayMs: get('crlRevocationDelay'),
  };
  crossCheck(config);
  return config;
}

function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Rules that involve more than one setting. */
function crossCheck(c: Config): void {
  if (c.plainHttp && !c.baseUrl) {
    throw new ConfigError('invalid setting plainHttp: --plain-http needs --base-url (the public https URL of the TLS proxy)');
  }
  if ((c.tlsCert === undefined) !== (c.tlsKey === undefined)) {
    throw new ConfigError('invalid setting tlsCert/tlsKey: set both --tls-cert and --tls-key, or neither');
  }
  if (c.orderLifetimeMs <= 0) throw new ConfigError('invalid setting orderLifetime: must be greater than 0');
  if (c.pendingAuthzLifetimeMs <= 0) throw new ConfigError('invalid setting pendingAuthzLifetime: must be greater than 0');
  if (c.validAuthzLifetimeMs <= 0) throw new ConfigError('invalid setting validAuthzLifetime: must be greater than 0');
  if ((c.pkcs11Module === undefined) !== (c.pkcs11Token === undefined)) {
    throw new ConfigError('invalid setting pkcs11Module/pkcs11Token: set both --pkcs11-module and --pkcs11-token, or neither');
  }
  if (c.signerTimeoutMs < 50) throw new ConfigError('invalid setting signerTimeout: must be at least 50ms');
  if (c.ocspResponseLifetimeMs < 60_000) throw new ConfigError('invalid setting ocspResponseLifetime: must be at least 1m');
  if (c.crlLifetimeMs < 60_000) throw new ConfigError('invalid setting crlLifetime: must be at least 1m');
  if (c.ocspResponderValidityMs < 3_600_000) throw new ConfigError('invalid setting ocspResponderValidity: must be at least 1h');
  if (c.maintenanceIntervalMs < 1_000) throw new ConfigError('invalid setting maintenanceInterval: must be at least 1s');
  if (c.certificateRetentionMs !== 0 && c.certificateRetentionMs < c.crlLifetimeMs) {
    throw new ConfigError('invalid setting certificateRetention: must be 0 (keep) or at least the CRL lifetime');
  }
  if (c.validationTimeoutMs < 100) throw new ConfigError('invalid setting validationTimeout: must be at least 100ms');
}
