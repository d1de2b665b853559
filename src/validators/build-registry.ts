/**
 * Builds the validator registry from configuration: the built-in types, the token challenge when
 * token authorities are configured, webhook validators, and operator modules. An operator module
 * is an ES module exporting `createValidator(options, context)` that returns an object with the
 * Validator interface (see README "Writing a validator").
 */
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import { Dns01Validator } from './dns-01.js';
import { DnsPersist01Validator } from './dns-persist-01.js';
import { Http01Validator } from './http-01.js';
import { addressLookupFor, DnsResolver, type AddressLookupMode } from './resolver.js';
import { TlsAlpn01Validator } from './tls-alpn-01.js';
import { TokenChallengeValidator } from './tkauth-01.js';
import { TokenAuthority } from './token-authority.js';
import type { ValidatorsConfig } from './validators-config.js';
import { ValidatorRegistry, type Validator } from './validator.js';
import { WebhookValidator } from './webhook.js';

/** Challenge types Anvil implements; tkauth-01 is offered only when token authorities are configured. */
export const BUILT_IN_CHALLENGE_TYPES: readonly string[] = ['http-01', 'dns-01', 'tls-alpn-01', 'dns-persist-01', 'tkauth-01'];

export interface RegistrySettings {
  http01Port: number;
  tlsAlpn01Port: number;
  dnsResolvers: string[];
  /** Where http-01 and tls-alpn-01 find addresses (see addressLookupFor). */
  addressLookup: AddressLookupMode;
  /** Default issuer domain name for dns-persist-01 when the config names none. */
  defaultIssuerDomainName: string;
  /** dns-persist-01's accountHashPrefix (advertised in the directory). */
  accountHashPrefix: string;
}

export interface BuiltRegistry {
  registry: ValidatorRegistry;
  /** Every type a profile may name: registered ones plus built-ins not configured here. */
  known: Set<string>;
}

export async function buildValidatorRegistry(settings: RegistrySettings, vc: ValidatorsConfig, store: Store, log: Logger): Promise<BuiltRegistry> {
  const resolver = new DnsResolver(settings.dnsResolvers);
  const addresses = addressLookupFor(settings.addressLookup, settings.dnsResolvers, resolver);
  const registry = new ValidatorRegistry();
  registry.register(new Http01Validator({ port: settings.http01Port, resolver: addresses }));
  registry.register(new Dns01Validator(resolver));
  registry.register(new TlsAlpn01Validator({ port: settings.tlsAlpn01Port, resolver: addresses }));
  registry.register(
    new DnsPersist01Validator({
      resolver,
      issuerDomainNames: vc.dnsPersistIssuerDomainNames ?? [settings.defaultIssuerDomainName],
      accountHashPrefix: settings.accountHashPrefix,
      acceptAccountUrl: vc.dnsPersistAcceptAccountUrl,
    }),
  );
  if (vc.tokenAuthorities.length > 0) {
    registry.register(
      new TokenChallengeValidator(
        vc.tokenAuthorities.map((a) => new TokenAuthority(a)),
        vc.tokenRules,
        { useOnce: (issuer, jti, expiresAt) => store.useTokenOnce(issuer, jti, expiresAt) },
      ),
    );
  }
  for (const webhook of vc.webhooks) registry.register(new WebhookValidator(webhook));
  for (const m of vc.modules) {
    const mod = (await import(pathToFileURL(m.path).href)) as { createValidator?: (options: unknown, context: unknown) => unknown };
    if (typeof mod.createValidator !== 'function') throw new Error(`validator module ${m.path} does not export createValidator(options, context)`);
    const validator = (await mod.createValidator(m.options, { log: log.child({ validatorModule: m.path }) })) as Validator;
    if (typeof validator?.type !== 'string' || typeof validator.supports !== 'function' || typeof validator.validate !== 'function') {
      throw new Error(`validator module ${m.path}: createValidator must return { type, supports(identifier, wildcard), validate(request) }`);
    }
    registry.register(validator);
  }
  return { registry, known: new Set([...BUILT_IN_CHALLENGE_TYPES, ...registry.types()]) };
}
