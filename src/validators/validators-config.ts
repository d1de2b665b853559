/**
 * The validators configuration file (`--validators-config`, YAML or JSON): operator validator
 * modules, webhook validators, dns-persist-01 issuer domain names, and the trusted token
 * authorities with their claim-to-identifier rules. Checked with zod; errors name the file and field.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration } from '../config/settings.js';
import type { TokenAuthorityConfig } from './token-authority.js';
import type { TokenRule } from './tkauth-01.js';
import type { WebhookOptions } from './webhook.js';

const duration = z.string().refine((v) => parseDuration(v) !== undefined, { message: 'must be a duration such as 500ms, 2s, 1m' });
const challengeType = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a lower-case challenge type name');

const Schema = z
  .object({
    modules: z
      .array(z.object({ path: z.string().min(1), options: z.record(z.string(), z.unknown()).default({}) }).strict())
      .default([]),
    webhooks: z
      .array(
        z
          .object({
            type: challengeType,
            url: z.string().url().refine((u) => u.startsWith('https://'), { message: 'must be an https:// URL' }),
            caFile: z.string().optional(),
            timeout: duration.default('2s'),
            retries: z.number().int().min(0).max(5).default(2),
            backoff: duration.default('200ms'),
            breaker: z.object({ failures: z.number().int().min(1).default(5), cooldown: duration.default('30s') }).strict().default({ failures: 5, cooldown: '30s' }),
            headers: z.record(z.string(), z.string()).default({}),
            wildcards: z.boolean().default(false),
            identifierTypes: z.array(z.enum(['dns', 'ip'])).default(['dns', 'ip']),
          })
          .strict(),
      )
      .default([]),
    dnsPersist: z
      .object({
        issuerDomainNames: z.array(z.string().regex(/^[a-z0-9.-]+$/, 'must be a lower-case domain name without trailing dot')).min(1).max(10).optional(),
        acceptAccountUrl: z.boolean().default(false),
      })
      .strict()
      .optional(),
    tokenAuthorities: z
      .array(
        z
          .object({
            name: z.string().min(1),
            issuer: z.string().min(1),
            audience: z.string().min(1).optional(),
            algorithms: z.array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])).min(1).default(['RS256', 'ES256']),
            binding: z.union([z.literal('fingerprint'), z.literal('audience'), z.object({ claim: z.string().min(1) }).strict()]).default('fingerprint'),
            jwksFile: z.string().optional(),
            jwksUrl: z.string().url().optional(),
            jwksCaFile: z.string().optional(),
            jwksRefresh: duration.default('5m'),
            maxLifetime: duration.default('1h'),
          })
          .strict()
          .refine((a) => (a.jwksFile === undefined) !== (a.jwksUrl === undefined), { message: 'set exactly one of jwksFile and jwksUrl' }),
      )
      .default([]),
    tokenRules: z
      .array(
        z
          .object({
            authority: z.string().min(1),
            match: z.record(z.string(), z.union([z.string(), z.array(z.string())])).default({}),
            identifiers: z.array(z.string().min(1)).min(1),
          })
          .strict(),
      )
      .default([]),
  })
  .strict();

export interface ValidatorsConfig {
  modules: { path: string; options: Record<string, unknown> }[];
  webhooks: WebhookOptions[];
  dnsPersistIssuerDomainNames: string[] | undefined;
  dnsPersistAcceptAccountUrl: boolean;
  tokenAuthorities: TokenAuthorityConfig[];
  tokenRules: TokenRule[];
}

export const EMPTY_VALIDATORS_CONFIG: ValidatorsConfig = {
  modules: [],
  webhooks: [],
  dnsPersistIssuerDomainNames: undefined,
  dnsPersistAcceptAccountUrl: false,
  tokenAuthorities: [],
  tokenRules: [],
};

/** Loads the file; relative paths inside it are relative to the file. `defaultAudience` is the CA's directory URL. */
export function loadValidatorsConfig(path: string | undefined, defaultAudience: string): ValidatorsConfig {
  if (!path) return EMPTY_VALIDATORS_CONFIG;
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`validators config ${path}: cannot read: ${(e as Error).message}`);
  }
  const parsed = Schema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`validators config ${path}: field ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  const c = parsed.data;
  const base = dirname(resolve(path));
  const at = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const read = (p: string | undefined) => (p ? readFileSync(at(p), 'utf8') : undefined);
  const authorityNames = new Set(c.tokenAuthorities.map((a) => a.name));
  for (const [i, rule] of c.tokenRules.entries()) {
    if (!authorityNames.has(rule.authority)) throw new Error(`validators config ${path}: field tokenRules.${i}.authority: no token authority named ${rule.authority}`);
  }
  return {
    modules: c.modules.map((m) => ({ path: at(m.path), options: m.options })),
    webhooks: c.webhooks.map((w) => {
      const ca = read(w.caFile);
      return {
        type: w.type,
        url: w.url,
        ...(ca ? { ca } : {}),
        timeoutMs: parseDuration(w.timeout)!,
        retries: w.retries,
        backoffMs: parseDuration(w.backoff)!,
        breakerFailures: w.breaker.failures,
        breakerCooldownMs: parseDuration(w.breaker.cooldown)!,
        headers: w.headers,
        wildcards: w.wildcards,
        identifierTypes: w.identifierTypes,
      };
    }),
    dnsPersistIssuerDomainNames: c.dnsPersist?.issuerDomainNames,
    dnsPersistAcceptAccountUrl: c.dnsPersist?.acceptAccountUrl ?? false,
    tokenAuthorities: c.tokenAuthorities.map((a) => {
      const ca = read(a.jwksCaFile);
      return {
        name: a.name,
        issuer: a.issuer,
        audience: a.audience ?? defaultAudience,
        algorithms: a.algorithms,
        binding: a.binding === 'fingerprint' ? { kind: 'fingerprint' } : a.binding === 'audience' ? { kind: 'audience' } : { kind: 'claim', claim: a.binding.claim },
        jwks: a.jwksFile ? { file: at(a.jwksFile) } : { url: a.jwksUrl!, refreshMs: parseDuration(a.jwksRefresh)!, ...(ca ? { ca } : {}) },
        maxLifetimeMs: parseDuration(a.maxLifetime)!,
      };
    }),
    tokenRules: c.tokenRules,
  };
}
