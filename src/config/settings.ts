/**
 * Every setting of `anvil serve`, in one table: its config-file key, flag, environment variable,
 * default, and check. The README's settings table and `--help` are generated from it, so code and
 * documentation cannot drift.
 */
import { isIP } from 'node:net';

export type SettingKind = 'string' | 'int' | 'bool' | 'duration' | 'list' | 'enum' | 'url' | 'hostport' | 'limit' | 'postgres-url';

export interface SettingSpec {
  key: string;
  flag: string;
  env: string;
  kind: SettingKind;
  /** Default as the string a user would type; undefined = unset. */
  default?: string;
  doc: string;
  enumValues?: readonly string[];
  min?: number;
  max?: number;
  /** `off` is accepted and leaves the setting unset (for a listener that is on by default). */
  allowOff?: boolean;
  /** `auto` is accepted and stands for the number of cores (at most `max`). */
  allowAuto?: boolean;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const SETTINGS = [
  { key: 'listen', flag: '--listen', env: 'ANVIL_LISTEN', kind: 'hostport', default: '127.0.0.1:8443', doc: 'Address and port the ACME server listens on (`host:port`; port 0 picks a free one).' },
  { key: 'baseUrl', flag: '--base-url', env: 'ANVIL_BASE_URL', kind: 'url', doc: 'Public base URL clients use (all ACME URLs are built from it). Default: `https://<listen host>:<port>` (`http://` with --plain-http).' },
  { key: 'dataDir', flag: '--data-dir', env: 'ANVIL_DATA_DIR', kind: 'string', default: './data', doc: 'Data directory: SQLite database, CA certificates, encrypted keys. Created and initialised on first start.' },
  { key: 'plainHttp', flag: '--plain-http', env: 'ANVIL_PLAIN_HTTP', kind: 'bool', default: 'false', doc: 'Serve plain HTTP, for running behind a TLS-terminating proxy. Requires --base-url (the proxy\'s https URL).' },
  { key: 'tlsCert', flag: '--tls-cert', env: 'ANVIL_TLS_CERT', kind: 'string', doc: 'PEM certificate chain for the HTTPS listener. Default: a certificate for localhost/127.0.0.1/::1 issued by Anvil\'s own CA, renewed at start when near expiry.' },
  { key: 'tlsKey', flag: '--tls-key', env: 'ANVIL_TLS_KEY', kind: 'string', doc: 'PEM private key for --tls-cert (may be encrypted with the key passphrase).' },
  { key: 'extraInstance', flag: '--extra-instance', env: 'ANVIL_EXTRA_INSTANCE', kind: 'bool', default: 'false', doc: 'This server is an additional instance on a store that another server already serves (several instances behind a balancer): it skips the one-server-per-data-directory check and writes no pid file. Without it, a second `anvil serve` on a data directory whose server runs refuses to start.' },
  { key: 'http01Port', flag: '--http01-port', env: 'ANVIL_HTTP01_PORT', kind: 'int', default: '80', min: 1, max: 65535, doc: 'Port the http-01 validator connects to (RFC 8555 says 80; tests use a high port).' },
  { key: 'tlsAlpn01Port', flag: '--tlsalpn01-port', env: 'ANVIL_TLSALPN01_PORT', kind: 'int', default: '443', min: 1, max: 65535, doc: 'Port the tls-alpn-01 validator connects to (RFC 8737 says 443).' },
  { key: 'dnsResolvers', flag: '--dns-resolvers', env: 'ANVIL_DNS_RESOLVERS', kind: 'list', doc: 'Comma-separated `host:port` DNS servers the validator queries. Default: the system resolvers.' },
  { key: 'addressLookup', flag: '--address-lookup', env: 'ANVIL_ADDRESS_LOOKUP', kind: 'enum', enumValues: ['auto', 'system', 'dns'], default: 'auto', doc: 'How the http-01 and tls-alpn-01 validators find a name\'s addresses: `system` = the operating system\'s name service (getaddrinfo: /etc/hosts, then DNS as nsswitch.conf says), `dns` = DNS queries only (to --dns-resolvers, else the system\'s DNS servers), `auto` = `system` unless --dns-resolvers is set. TXT lookups (dns-01, dns-persist-01) always use DNS.' },
  { key: 'logLevel', flag: '--log-level', env: 'ANVIL_LOG_LEVEL', kind: 'enum', enumValues: LOG_LEVELS, default: 'info', doc: 'pino log level.' },
  { key: 'logFormat', flag: '--log-format', env: 'ANVIL_LOG_FORMAT', kind: 'enum', enumValues: ['auto', 'json', 'pretty'], default: 'auto', doc: 'Log lines on stdout: `json` (pino), `pretty` (human-readable, pino-pretty), or `auto` = pretty on a terminal, JSON to a pipe or file.' },
  { key: 'keyPassphraseFile', flag: '--key-passphrase-file', env: 'ANVIL_KEY_PASSPHRASE_FILE', kind: 'string', doc: 'File holding the passphrase that encrypts CA keys at rest. `ANVIL_KEY_PASSPHRASE` may carry it directly instead. If neither is set, a development passphrase is generated into `<data-dir>/dev-passphrase` with a warning.' },
  { key: 'termsOfService', flag: '--terms-of-service', env: 'ANVIL_TERMS_OF_SERVICE', kind: 'url', doc: 'URL of the terms of service (directory `meta.termsOfService`); when set, new accounts must agree to it.' },
  { key: 'website', flag: '--website', env: 'ANVIL_WEBSITE', kind: 'url', doc: 'URL shown as directory `meta.website`.' },
  { key: 'externalAccountRequired', flag: '--external-account-required', env: 'ANVIL_EXTERNAL_ACCOUNT_REQUIRED', kind: 'bool', default: 'false', doc: 'Require External Account Binding on newAccount (directory `meta.externalAccountRequired`).' },
  { key: 'profilesDir', flag: '--profiles-dir', env: 'ANVIL_PROFILES_DIR', kind: 'string', doc: 'Directory of certificate profile files. Default: the `acme-profiles/` directory shipped with Anvil.' },
  { key: 'defaultProfile', flag: '--default-profile', env: 'ANVIL_DEFAULT_PROFILE', kind: 'string', default: 'default', doc: 'Profile used when an order names none.' },
  { key: 'orderLifetime', flag: '--order-lifetime', env: 'ANVIL_ORDER_LIFETIME', kind: 'duration', default: '24h', doc: 'How long a new order may take to reach `valid` before it expires.' },
  { key: 'pendingAuthzLifetime', flag: '--pending-authz-lifetime', env: 'ANVIL_PENDING_AUTHZ_LIFETIME', kind: 'duration', default: '24h', doc: 'How long a pending authorization waits for its challenge.' },
  { key: 'validAuthzLifetime', flag: '--valid-authz-lifetime', env: 'ANVIL_VALID_AUTHZ_LIFETIME', kind: 'duration', default: '7d', doc: 'How long a validated authorization stays valid (for revocation by authorization and reuse).' },
  { key: 'authzReuseWindow', flag: '--authz-reuse-window', env: 'ANVIL_AUTHZ_REUSE_WINDOW', kind: 'duration', default: '8h', doc: 'A new order reuses the account\'s valid authorization for an identifier if it was validated within this window (0 disables reuse).' },
  { key: 'validationTimeout', flag: '--validation-timeout', env: 'ANVIL_VALIDATION_TIMEOUT', kind: 'duration', default: '10s', doc: 'Upper bound on one challenge validation (DNS, connect, redirects and body).' },
  { key: 'validationConcurrency', flag: '--validation-concurrency', env: 'ANVIL_VALIDATION_CONCURRENCY', kind: 'int', default: '64', min: 1, max: 10000, doc: 'Validations run at once; more wait in a queue.' },
  { key: 'maxRequestBytes', flag: '--max-request-bytes', env: 'ANVIL_MAX_REQUEST_BYTES', kind: 'int', default: '65536', min: 1024, max: 16777216, doc: 'Largest accepted JWS request body; larger requests get a `malformed` problem with status 413.' },
  { key: 'sqliteDurability', flag: '--sqlite-durability', env: 'ANVIL_SQLITE_DURABILITY', kind: 'enum', enumValues: ['group', 'full', 'normal'], default: 'group', doc: '`group`: a write is fsynced before it is acknowledged, concurrent writes sharing one fsync off the event loop. `full`: SQLite fsyncs inside every commit. `normal`: no fsync per commit (survives a process crash, not a power loss).' },
  { key: 'pkcs11Module', flag: '--pkcs11-module', env: 'ANVIL_PKCS11_MODULE', kind: 'string', doc: 'PKCS#11 module (shared library) holding CA keys, e.g. /usr/lib/softhsm/libsofthsm2.so. Needed when the CA manifest has pkcs11 keys or `anvil init`/`ca rotate` use --key-store pkcs11.' },
  { key: 'pkcs11Token', flag: '--pkcs11-token', env: 'ANVIL_PKCS11_TOKEN', kind: 'string', doc: 'Label of the PKCS#11 token.' },
  { key: 'pkcs11PinFile', flag: '--pkcs11-pin-file', env: 'ANVIL_PKCS11_PIN_FILE', kind: 'string', doc: 'File with the token user PIN (`ANVIL_PKCS11_PIN` may carry it directly).' },
  { key: 'signerTimeout', flag: '--signer-timeout', env: 'ANVIL_SIGNER_TIMEOUT', kind: 'duration', default: '2s', doc: 'Longest wait for one signature; after 3 failures in a row the signer is considered down for 10s and finalize answers serverInternal with Retry-After at once (the order stays ready).' },
  { key: 'validatorsConfig', flag: '--validators-config', env: 'ANVIL_VALIDATORS_CONFIG', kind: 'string', doc: 'YAML/JSON file configuring operator validator modules, webhook validators, dns-persist-01 issuer domain names, and workload-identity token authorities with their rules (README "Challenges").' },
  { key: 'rateLimitOrdersPerAccount', flag: '--rate-limit-orders-per-account', env: 'ANVIL_RATE_LIMIT_ORDERS_PER_ACCOUNT', kind: 'limit', default: '1000/1h', doc: 'New orders per account in a sliding window (`<count>/<window>` or `off`).' },
  { key: 'rateLimitOrdersPerDomain', flag: '--rate-limit-orders-per-domain', env: 'ANVIL_RATE_LIMIT_ORDERS_PER_DOMAIN', kind: 'limit', default: '5000/1h', doc: 'New orders naming a registered domain (the last two labels of a DNS name, or an IP address).' },
  { key: 'rateLimitOrdersPerProfile', flag: '--rate-limit-orders-per-profile', env: 'ANVIL_RATE_LIMIT_ORDERS_PER_PROFILE', kind: 'limit', default: 'off', doc: 'New orders under one profile, across all accounts.' },
  { key: 'rateLimitFailedValidations', flag: '--rate-limit-failed-validations', env: 'ANVIL_RATE_LIMIT_FAILED_VALIDATIONS', kind: 'limit', default: '100/1h', doc: 'Failed validations per account; when reached, the account\'s new orders are refused until the window moves.' },
  { key: 'rateLimitAccountsPerIp', flag: '--rate-limit-accounts-per-ip', env: 'ANVIL_RATE_LIMIT_ACCOUNTS_PER_IP', kind: 'limit', default: '300/3h', doc: 'New accounts per client address.' },
  { key: 'trustProxy', flag: '--trust-proxy', env: 'ANVIL_TRUST_PROXY', kind: 'bool', default: 'false', doc: 'Take the client address from X-Forwarded-For (set when behind a TLS proxy), for per-address limits and logs.' },
  { key: 'adminListen', flag: '--admin-listen', env: 'ANVIL_ADMIN_LISTEN', kind: 'hostport', default: '127.0.0.1:9443', doc: 'Plain-HTTP admin listener: /metrics, /healthz, /readyz (unauthenticated) and the admin API (bearer token, role-based). Keep it on loopback or a private network.' },
  { key: 'auditCheckpointInterval', flag: '--audit-checkpoint-interval', env: 'ANVIL_AUDIT_CHECKPOINT_INTERVAL', kind: 'duration', default: '1m', doc: 'How often a signed checkpoint of the audit chain head (sequence number, hash) is written to the log stream and to --audit-checkpoint-file, when the head has moved (also at start and stop; 0 disables). `anvil audit verify --checkpoint <file>` then detects removed newest records.' },
  { key: 'auditCheckpointFile', flag: '--audit-checkpoint-file', env: 'ANVIL_AUDIT_CHECKPOINT_FILE', kind: 'string', doc: 'File receiving the latest audit checkpoint (replaced atomically). Default: `<data-dir>/audit-checkpoint.json`; put it on other storage (or ship the log stream) so that whoever can write the database cannot also roll it back.' },
  { key: 'uiSessionLifetime', flag: '--ui-session-lifetime', env: 'ANVIL_UI_SESSION_LIFETIME', kind: 'duration', default: '8h', doc: 'How long a dashboard sign-in (at `<admin listener>/ui/`) lasts before the admin token must be given again.' },
  { key: 'anomalyInterval', flag: '--anomaly-interval', env: 'ANVIL_ANOMALY_INTERVAL', kind: 'duration', default: '1m', doc: 'How often the anomaly detector scans the store (0 disables it). Thresholds: `--anomaly-config`.' },
  { key: 'anomalyConfig', flag: '--anomaly-config', env: 'ANVIL_ANOMALY_CONFIG', kind: 'string', doc: 'YAML/JSON file with anomaly thresholds (README "Anomaly detection").' },
  { key: 'retention', flag: '--retention', env: 'ANVIL_RETENTION', kind: 'duration', default: '30d', doc: 'Expired orders (without a certificate), authorizations, challenges and used token ids are purged this long after they expire, in bounded background batches. The audit log is always kept.' },
  { key: 'certificateRetention', flag: '--certificate-retention', env: 'ANVIL_CERTIFICATE_RETENTION', kind: 'duration', default: '0', doc: 'Purge certificates this long after their notAfter (`0`: keep every certificate). A revoked certificate stays at least until it has left every CRL.' },
  { key: 'databaseUrl', flag: '--database-url', env: 'ANVIL_DATABASE_URL', kind: 'postgres-url', doc: 'PostgreSQL connection URL (`postgres://user@host:5432/anvil`): selects the PostgreSQL store, which any number of instances share, and keeps the CA hierarchy (certificates, manifest, encrypted keys or PKCS#11 references) in it. Default: the embedded SQLite store in the data directory. Give the password with PGPASSWORD or a pgpass file rather than in the URL; the URL is never logged.' },
  { key: 'databasePoolSize', flag: '--database-pool-size', env: 'ANVIL_DATABASE_POOL_SIZE', kind: 'int', default: '10', min: 1, max: 1000, doc: 'Most PostgreSQL connections one serving process opens. Keep instances × workers × this under the server\'s max_connections.' },
  { key: 'workers', flag: '--workers', env: 'ANVIL_WORKERS', kind: 'int', default: 'auto', allowAuto: true, min: 1, max: 64, doc: 'Serving processes on the one listener (node:cluster), sharing the store: nonces, rate limits, leases and caches hold across them; the admin address sums their metrics. `auto`: one per core.' },
  { key: 'maintenanceInterval', flag: '--maintenance-interval', env: 'ANVIL_MAINTENANCE_INTERVAL', kind: 'duration', default: '1m', doc: 'Pause between background maintenance passes (back-fill of older rows, retention).' },
  { key: 'revocationListen', flag: '--revocation-listen', env: 'ANVIL_REVOCATION_LISTEN', kind: 'hostport', default: '127.0.0.1:8080', allowOff: true, doc: 'Plain-HTTP listener (`host:port`, or `off`) serving only OCSP and CRLs: relying parties fetch them over http:// (RFC 5019) and do not trust a private root for an https:// fetch. OCSP and CRLs are always served on the ACME listener too.' },
  { key: 'revocationBaseUrl', flag: '--revocation-base-url', env: 'ANVIL_REVOCATION_BASE_URL', kind: 'url', doc: 'Base of the OCSP and CRL URLs written into certificates. Default: `http://<revocation listen address>` (the actual port when it is 0); the ACME base URL with `--revocation-listen off`.' },
  { key: 'ocspResponseLifetime', flag: '--ocsp-response-lifetime', env: 'ANVIL_OCSP_RESPONSE_LIFETIME', kind: 'duration', default: '12h', doc: 'Longest nextUpdate − thisUpdate of OCSP responses; never past the certificate\'s notAfter. Pre-signed responses are refreshed when half of it has passed, unless they already reach notAfter. A profile with an OCSP pointer should live at least twice this (a warning names it otherwise).' },
  { key: 'ocspResponderValidity', flag: '--ocsp-responder-validity', env: 'ANVIL_OCSP_RESPONDER_VALIDITY', kind: 'duration', default: '30d', doc: 'Lifetime of each issuer\'s delegated OCSP signing certificate; renewed automatically when a third of it is left.' },
  { key: 'crlShards', flag: '--crl-shards', env: 'ANVIL_CRL_SHARDS', kind: 'int', default: '16', min: 1, max: 4096, doc: 'CRL shards per issuer; each certificate is assigned one at issuance and its CRL Distribution Point names that shard.' },
  { key: 'crlLifetime', flag: '--crl-lifetime', env: 'ANVIL_CRL_LIFETIME', kind: 'duration', default: '12h', doc: 'nextUpdate − thisUpdate of CRLs; every CRL is re-issued when half of it has passed. A profile with a CRL pointer should live at least twice this (a warning names it otherwise).' },
  { key: 'crlRevocationDelay', flag: '--crl-revocation-delay', env: 'ANVIL_CRL_REVOCATION_DELAY', kind: 'duration', default: '2s', doc: 'Longest wait between a revocation and the publication of the CRLs that list it.' },
] as const satisfies readonly SettingSpec[];

export type SettingKey = (typeof SETTINGS)[number]['key'];

/** The flag of `anvil serve` that names the config file; not itself a setting in the file. */
export const CONFIG_FLAG = { flag: '--config', env: 'ANVIL_CONFIG', doc: 'YAML or JSON file with any of the settings below (keys as in the first column).' };

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `90s`, `15m`, `24h`, `7d`, `0` into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** Splits `host:port` / `[v6]:port`; undefined when malformed. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (m[1] !== undefined && isIP(host) !== 6) return undefined;
  return { host, port };
}
