/**
 * The agent's configuration file (YAML or JSON), checked with zod. Every error names the field
 * (`certificates.0.output.dir`) and the file, so a bad deploy fails at start and says where.
 * Durations are strings such as `30s`, `15m`, `24h`; relative paths are resolved against the
 * directory of the config file.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration, parseHostPort } from '../config/settings.js';

const duration = z
  .string()
  .refine((v) => parseDuration(v) !== undefined, { message: 'must be a duration such as 30s, 15m, 24h, 7d' })
  .transform((v) => parseDuration(v)!);

const hostPort = z.string().refine((v) => parseHostPort(v) !== undefined, { message: 'must be host:port, e.g. 127.0.0.1:9470' });

const fileMode = z
  .union([z.number().int().min(0).max(0o7777), z.string().regex(/^0?[0-7]{3,4}$/, 'must be an octal mode such as "0640"')])
  .transform((v) => (typeof v === 'number' ? v : parseInt(v, 8)));

const SIGNALS = ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGTERM', 'SIGINT', 'SIGQUIT'] as const;

/** A reload action: a signal to the process in a pid file, or a command run with a timeout. */
const reloadAction = z
  .object({
    signal: z.enum(SIGNALS).optional(),
    pidFile: z.string().min(1).optional(),
    command: z.string().min(1).optional(),
    timeout: duration.default(30_000),
  })
  .strict()
  .refine((r) => (r.command !== undefined) !== (r.pidFile !== undefined), { message: 'give either command or pidFile (with signal), not both or neither' })
  .transform((r) => (r.command !== undefined ? { kind: 'command' as const, command: r.command, timeoutMs: r.timeout } : { kind: 'signal' as const, pidFile: r.pidFile!, signal: r.signal ?? 'SIGHUP', timeoutMs: r.timeout }));

const KEY_TYPES = ['ecdsa-p256', 'ecdsa-p384', 'rsa2048', 'rsa3072', 'rsa4096'] as const;
/** Key types a certificate intent may ask for. */
export type AgentKeyType = (typeof KEY_TYPES)[number];

const certificateIntent = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1-64 letters, digits, ".", "_" or "-"'),
    names: z.array(z.string().min(1)).min(1),
    profile: z.string().min(1).optional(),
    keyType: z.enum(KEY_TYPES).default('ecdsa-p256'),
    /** New key per renewal (the default); false keeps the key across renewals. */
    rotateKey: z.boolean().default(true),
    output: z
      .object({
        dir: z.string().min(1),
        cert: z.string().default('cert.pem'),
        key: z.string().default('key.pem'),
        chain: z.string().default('chain.pem'),
        fullchain: z.string().default('fullchain.pem'),
        /** Optional single file: key, then leaf, then chain (HAProxy style). */
        combined: z.string().optional(),
        mode: fileMode.default(0o644),
        keyMode: fileMode.default(0o600),
        owner: z.number().int().min(0).optional(),
        group: z.number().int().min(0).optional(),
        /** How long the previous version stays on disk after a swap. */
        grace: duration.default(3_600_000),
      })
      .strict(),
    reload: reloadAction.optional(),
    /**
     * An operator-provided credential for critical paths: installed (same atomic swap, reload
     * once) only when every CA endpoint is failing and the installed certificate has expired or
     * is within `margin` of expiry. The next successful renewal replaces it.
     */
    fallback: z
      .object({
        cert: z.string().min(1),
        key: z.string().min(1),
        /** Optional intermediates, written to chain.pem and after the leaf in fullchain.pem. */
        chain: z.string().min(1).optional(),
        margin: duration.default(300_000),
      })
      .strict()
      .optional(),
  })
  .strict();

const AgentConfigFile = z
  .object({
    ca: z
      .object({
        directories: z.array(z.url()).min(1),
        /** `in-order`: always prefer the first healthy endpoint; `first-random`: start at a random one (spreads a fleet). */
        order: z.enum(['in-order', 'first-random']).default('in-order'),
        caFile: z.string().min(1).optional(),
        requestTimeout: duration.default(15_000),
        breaker: z.object({ failures: z.number().int().min(1).default(3), cooldown: duration.default(60_000) }).strict().default({ failures: 3, cooldown: 60_000 }),
      })
      .strict(),
    account: z
      .object({
        keyFile: z.string().min(1),
        contact: z.array(z.string().regex(/^mailto:/, 'must be a mailto: URI')).default([]),
        eab: z.object({ kid: z.string().min(1), hmacKeyFile: z.string().min(1) }).strict().optional(),
        /** tkauth-01: a command printing a workload token; `{thumbprint}` is replaced by the account key's RFC 7638 thumbprint. */
        tokenCommand: z.string().min(1).optional(),
      })
      .strict(),
    challenge: z
      .object({
        http01: z
          .object({ listen: hostPort.optional(), webroot: z.string().min(1).optional() })
          .strict()
          .refine((h) => (h.listen !== undefined) !== (h.webroot !== undefined), { message: 'give either listen or webroot' })
          .optional(),
      })
      .strict()
      .default({}),
    stateDir: z.string().min(1),
    trustBundle: z
      .object({
        file: z.string().min(1),
        refresh: duration.default(3_600_000),
        mode: fileMode.default(0o644),
        /** Refuse to install a certificate whose chain does not lead to a root in the bundle. */
        requireChain: z.boolean().default(true),
        reload: reloadAction.optional(),
      })
      .strict()
      .optional(),
    timing: z
      .object({
        retryAfterMin: duration.default(60_000),
        retryAfterMax: duration.default(86_400_000),
        backoffInitial: duration.default(30_000),
        /** Orders are polled from this interval up (acme-client's backoff). */
        pollInterval: duration.default(1_000),
        /** Without ARI, how often the schedule is looked at again (it only moves with ARI). */
        maxSleep: duration.default(86_400_000),
      })
      .strict()
      .default({ retryAfterMin: 60_000, retryAfterMax: 86_400_000, backoffInitial: 30_000, pollInterval: 1_000, maxSleep: 86_400_000 }),
    listen: hostPort.optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    certificates: z.array(certificateIntent).min(1),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.certificates.forEach((cert, i) => {
      if (seen.has(cert.id)) ctx.addIssue({ code: 'custom', path: ['certificates', i, 'id'], message: `duplicate id ${cert.id}` });
      seen.add(cert.id);
    });
  });

/** The checked configuration, with durations in milliseconds and paths absolute. */
export type AgentConfig = z.output<typeof AgentConfigFile>;
/** One certificate intent of the configuration. */
export type CertificateIntent = AgentConfig['certificates'][number];
/** A checked reload action. */
export type ReloadAction = z.output<typeof reloadAction>;

/** Raised for a configuration that fails its checks; the message names the field. */
export class AgentConfigError extends Error {
  override readonly name = 'AgentConfigError';
}

/** Checks a parsed configuration object; `source` names it in errors, `baseDir` resolves relative paths. */
export function parseAgentConfig(raw: unknown, source = 'agent config', baseDir = process.cwd()): AgentConfig {
  const result = AgentConfigFile.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `  ${issue.path.length ? issue.path.join('.') : '(top level)'}: ${issue.message}`);
    throw new AgentConfigError(`${source}: invalid configuration\n${lines.join('\n')}`);
  }
  const c = result.data;
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  c.stateDir = abs(c.stateDir);
  c.account.keyFile = abs(c.account.keyFile);
  if (c.account.eab) c.account.eab.hmacKeyFile = abs(c.account.eab.hmacKeyFile);
  if (c.ca.caFile) c.ca.caFile = abs(c.ca.caFile);
  if (c.challenge.http01?.webroot) c.challenge.http01.webroot = abs(c.challenge.http01.webroot);
  if (c.trustBundle) {
    c.trustBundle.file = abs(c.trustBundle.file);
    if (c.trustBundle.reload?.kind === 'signal') c.trustBundle.reload.pidFile = abs(c.trustBundle.reload.pidFile);
  }
  for (const cert of c.certificates) {
    cert.output.dir = abs(cert.output.dir);
    if (cert.reload?.kind === 'signal') cert.reload.pidFile = abs(cert.reload.pidFile);
    if (cert.fallback) {
      cert.fallback.cert = abs(cert.fallback.cert);
      cert.fallback.key = abs(cert.fallback.key);
      if (cert.fallback.chain) cert.fallback.chain = abs(cert.fallback.chain);
    }
  }
  if (!c.certificates.every((cert) => cert.names.length > 0)) throw new AgentConfigError(`${source}: certificates.names must not be empty`);
  return c;
}

/** Reads and checks a YAML/JSON configuration file. */
export function loadAgentConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new AgentConfigError(`${file}: cannot read the agent configuration: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new AgentConfigError(`${file}: not valid YAML: ${(error as Error).message}`);
  }
  return parseAgentConfig(raw, file, dirname(resolve(file)));
}
