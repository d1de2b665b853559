/**
 * `anvil token-cert`: the one-command client path for CI jobs and workloads. It makes an account
 * key (or loads one), obtains a workload-identity token bound to that key, orders a certificate,
 * answers each tkauth-01 challenge with the token, and writes the certificate chain and key.
 *
 *   anvil token-cert --directory https://ca.internal/directory --name app.ci.internal \
 *     --profile ci-ephemeral --token-command 'fetch-ci-token --audience anvil:{thumbprint}' \
 *     --out-cert cert.pem --out-key key.pem
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import acme from 'acme-client';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { isIP } from 'node:net';
import { atcFingerprint } from '../validators/tkauth-01.js';
import { checkDirectoryReachable } from './tls-preflight.js';
import { parseOptions, UsageError } from './usage-error.js';

export const TOKEN_CERT_USAGE = `Usage: anvil token-cert --directory <url> --name <dns or ip>... [--profile <name>]
  (--token-file <file> | --token-env <VAR> | --token-command <cmd with {thumbprint} / {fingerprint}>)
  [--account-key <pem>] [--ca-file <root.pem>] [--key-type ecdsa-p256|ecdsa-p384] --out-cert <file> --out-key <file>`;

export async function tokenCertCommand(args: string[]): Promise<number> {
  const v = parseOptions(args, {
    directory: { type: 'string' },
    name: { type: 'string', multiple: true },
    profile: { type: 'string' },
    'token-file': { type: 'string' },
    'token-env': { type: 'string' },
    'token-command': { type: 'string' },
    'account-key': { type: 'string' },
    'ca-file': { type: 'string' },
    'key-type': { type: 'string' },
    'out-cert': { type: 'string' },
    'out-key': { type: 'string' },
  });
  const names = (v.name as string[] | undefined) ?? [];
  for (const required of ['directory', 'out-cert', 'out-key']) if (typeof v[required] !== 'string') throw new UsageError(`--${required} is required`);
  if (names.length === 0) throw new UsageError('--name is required (once per name)');
  const sources = ['token-file', 'token-env', 'token-command'].filter((k) => typeof v[k] === 'string');
  if (sources.length !== 1) throw new UsageError('give exactly one of --token-file, --token-env, --token-command');
  const directory = v.directory as string;
  const outCert = v['out-cert'] as string;
  const outKey = v['out-key'] as string;

  const caPem = typeof v['ca-file'] === 'string' ? readFileSync(v['ca-file']) : undefined;
  try {
    await checkDirectoryReachable(directory, caPem);
  } catch (e) {
    process.stderr.write(`anvil token-cert: ${(e as Error).message}\n`);
    return 1;
  }
  if (caPem) acme.axios.defaults.httpsAgent = new Agent({ ca: caPem });
  acme.axios.defaults.timeout = 30_000;
  const accountKeyPem = typeof v['account-key'] === 'string' ? readFileSync(v['account-key']) : await acme.crypto.createPrivateEcdsaKey();
  const jwk = createPublicKey(createPrivateKey(accountKeyPem)).export({ format: 'jwk' }) as JWK;
  const thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
  const token = obtainToken(v, thumbprint);

  const client = new acme.Client({ directoryUrl: directory, accountKey: accountKeyPem });
  await client.createAccount({ termsOfServiceAgreed: true });
  const identifiers = names.map((n) => ({ type: isIP(n) ? 'ip' : 'dns', value: n }));
  const order = await client.createOrder({ identifiers, ...(typeof v.profile === 'string' ? { profile: v.profile } : {}) } as never);
  for (const authz of await client.getAuthorizations(order)) {
    if (authz.status === 'valid') continue;
    // acme-client's types know only http-01/dns-01; the challenge list holds whatever the CA offers.
    const challenge = (authz.challenges as { type: string; url: string }[]).find((c) => c.type === 'tkauth-01');
    if (!challenge) throw new Error(`the CA offers no tkauth-01 challenge for ${authz.identifier.value}`);
    await (client as unknown as { api: { completeChallenge(url: string, data: unknown): Promise<unknown> } }).api.completeChallenge(challenge.url, { tkauth: token });
    await client.waitForValidStatus(challenge as never);
  }
  const keyType = v['key-type'] === 'ecdsa-p384' ? 'P-384' : 'P-256';
  const certKey = await acme.crypto.createPrivateEcdsaKey(keyType);
  const [, csr] = await acme.crypto.createCsr({ altNames: names }, certKey);
  const finalized = await client.finalizeOrder(order, csr);
  const chain = await client.getCertificate(finalized);
  writeFileSync(outKey, certKey, { mode: 0o600 });
  writeFileSync(outCert, chain);
  process.stdout.write(`certificate for ${names.join(', ')} written to ${outCert} (key ${outKey})\n`);
  return 0;
}

function obtainToken(v: Record<string, unknown>, thumbprint: string): string {
  let token: string;
  if (typeof v['token-file'] === 'string') token = readFileSync(v['token-file'], 'utf8');
  else if (typeof v['token-env'] === 'string') token = process.env[v['token-env']] ?? '';
  else {
    const command = String(v['token-command']).replaceAll('{thumbprint}', thumbprint).replaceAll('{fingerprint}', atcFingerprint(thumbprint));
    token = execFileSync('/bin/sh', ['-c', command], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'inherit'] });
  }
  token = token.trim();
  if (!token) throw new Error('the token source gave an empty token');
  return token;
}
