/**
 * `anvil dns-persist record`: prints the dns-persist-01 TXT record (draft-ietf-acme-dns-persist-02
 * §4.1) that authorizes one account for a name, so an operator can publish it without reading
 * the source. The account key thumbprint comes from `--account-key` (the client's key file, PEM
 * or JWK) or, when that is not given, from the account's record in the data directory's store.
 */
import { readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { defaultIssuerDomainName } from '../app.js';
import { hashedAccountUri } from '../validators/dns-persist-01.js';
import { loadValidatorsConfig } from '../validators/validators-config.js';
import { openDataStore } from './open-store.js';
import { parseCommand } from './settings-args.js';
import { UsageError } from './usage-error.js';

export const DNS_PERSIST_USAGE = `Usage: anvil dns-persist record --account-url <url> --name <dns name> [--account-key <key.pem|key.jwk>]
  [--wildcard] [--any-name] [--persist-until <unix seconds>] [--issuer-domain-name <name>] [--data-dir <dir>] [serve settings]

Prints the TXT record at _validation-persist.<name> that lets that ACME account be authorized for <name>:
  _validation-persist.<name>. IN TXT "<issuer-domain-name>; accounturi=<prefix>sha-256/<hash>[; policy=wildcard][; persistUntil=<t>]"
where <prefix> is the account URL's base + "/account-hash/" (the directory's meta.accountHashPrefix) and
  <hash> = base64url(SHA-256( L ‖ D ‖ T ‖ U ))
  D = the name the record sits at, lower case, no trailing dot, no "*." (or "*" with --any-name), as ASCII
  L = one byte holding the length of D
  T = the account key's RFC 7638 SHA-256 thumbprint, base64url, as ASCII
  U = the account URL, exactly as the server returned it, as ASCII
--wildcard adds policy=wildcard: the record then also authorizes *.<name> and every subdomain of <name>.
Without --account-key the thumbprint is read from the account in --data-dir's store.`;

export async function dnsPersistCommand(args: string[]): Promise<number> {
  const [, ...rest] = args;
  const parsed = parseCommand(rest, {
    'account-url': { type: 'string' },
    name: { type: 'string' },
    'account-key': { type: 'string' },
    wildcard: { type: 'boolean' },
    'any-name': { type: 'boolean' },
    'persist-until': { type: 'string' },
    'issuer-domain-name': { type: 'string' },
  });
  const v = parsed.values;
  const accountUrl = v['account-url'];
  if (typeof accountUrl !== 'string') throw new UsageError('--account-url is required');
  const match = /^(https?:\/\/[^/]+(?:\/.*)?)\/acct\/([A-Za-z0-9_-]{1,64})$/.exec(accountUrl);
  if (!match) throw new UsageError(`--account-url ${JSON.stringify(accountUrl)} is not an Anvil account URL (<base URL>/acct/<id>)`);
  const [, baseUrl, accountId] = match as unknown as [string, string, string];
  if (typeof v.name !== 'string') throw new UsageError('--name is required');
  const name = v.name.toLowerCase().replace(/\.$/, '').replace(/^\*\./, '');
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(name)) throw new UsageError(`--name ${JSON.stringify(v.name)} is not a DNS name with at least two labels`);
  const persistUntil = v['persist-until'];
  if (persistUntil !== undefined && (typeof persistUntil !== 'string' || !/^\d{1,12}$/.test(persistUntil))) throw new UsageError('--persist-until must be a UNIX time in seconds');

  const thumbprint = typeof v['account-key'] === 'string' ? await thumbprintOfKeyFile(v['account-key']) : await thumbprintFromStore(parsed.config(), accountId, accountUrl);
  const issuer = typeof v['issuer-domain-name'] === 'string' ? v['issuer-domain-name'].toLowerCase() : configuredIssuerDomainName(parsed, baseUrl);
  const domain = v['any-name'] === true ? '*' : name;
  const params = [`accounturi=${hashedAccountUri(`${baseUrl}/account-hash/`, domain, thumbprint, accountUrl)}`];
  if (v.wildcard === true) params.push('policy=wildcard');
  if (typeof persistUntil === 'string') params.push(`persistUntil=${persistUntil}`);
  process.stdout.write(`_validation-persist.${name}. IN TXT "${[issuer, ...params].join('; ')}"\n`);
  return 0;
}

async function thumbprintOfKeyFile(file: string): Promise<string> {
  const text = readFileSync(file, 'utf8');
  const jwk = (text.trimStart().startsWith('{') ? createPublicKey({ key: JSON.parse(text) as JWK, format: 'jwk' }) : createPublicKey(text)).export({ format: 'jwk' }) as JWK;
  return calculateJwkThumbprint(jwk, 'sha256');
}

async function thumbprintFromStore(config: ReturnType<ReturnType<typeof parseCommand>['config']>, id: string, url: string): Promise<string> {
  const { store } = await openDataStore(config);
  try {
    const account = await store.getAccount(id);
    if (!account) throw new Error(`no account ${id} in ${config.dataDir} (give --account-key with the client's account key instead)`);
    if (account.status !== 'valid') throw new Error(`account ${url} is ${account.status}`);
    return account.thumbprint;
  } finally {
    await store.close();
  }
}

/** The first issuer domain name the server accepts: the validators config's, else the server's default. */
function configuredIssuerDomainName(parsed: ReturnType<typeof parseCommand>, baseUrl: string): string {
  const config = parsed.config();
  const names = loadValidatorsConfig(config.validatorsConfig, `${baseUrl}/directory`).dnsPersistIssuerDomainNames;
  return names?.[0] ?? defaultIssuerDomainName(config.baseUrl ?? baseUrl);
}
