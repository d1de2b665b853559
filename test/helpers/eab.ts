/**
 * External Account Binding for tests (RFC 8555 §7.3.4): the `anvil eab` command run as a real
 * process against a server's data directory, and the `externalAccountBinding` JWS a client puts
 * in newAccount — built here field by field so tests can also build wrong ones.
 */
import { FlattenedSign, type JWK } from 'jose';
import { describeRun, run, serverEntry, type RunResult } from '../interop/harness.js';

/** The key passphrase harness.startAnvil gives the server; the CLI must use the same one. */
export const INTEROP_PASSPHRASE = 'interop-test-passphrase';

/** Runs `node dist/src/cli/main.js <args>` with the interop passphrase and no inherited ANVIL_* settings. */
export async function anvilCli(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const scrubbed: Record<string, string | undefined> = {};
  for (const key of Object.keys(process.env)) if (key.startsWith('ANVIL_')) scrubbed[key] = undefined;
  return run(process.execPath, [serverEntry(), ...args], {
    env: { ...scrubbed, ANVIL_KEY_PASSPHRASE: INTEROP_PASSPHRASE, NODE_OPTIONS: undefined, ...env },
    timeoutMs: 60_000,
  });
}

export interface EabCredential {
  kid: string;
  hmacKey: string;
  policy: { dnsSuffixes: string[]; ipRanges: string[]; profiles: string[]; preauthorize: boolean };
}

/** `anvil eab create --data-dir <dir> --json <args…>`, parsed. */
export async function createEab(dataDir: string, args: string[]): Promise<EabCredential> {
  const result = await anvilCli(['eab', 'create', '--data-dir', dataDir, '--json', ...args]);
  if (result.code !== 0) throw new Error(`anvil eab create failed\n${describeRun(result)}`);
  const parsed = JSON.parse(result.stdout.trim()) as EabCredential;
  if (!parsed.kid || !parsed.hmacKey) throw new Error(`anvil eab create printed no kid/hmacKey\n${describeRun(result)}`);
  return parsed;
}

export interface EabJwsOptions {
  kid: string;
  /** base64url HMAC key as `anvil eab create` prints it. */
  hmacKey: string;
  /** The JWK the binding's payload carries (normally the new account's public key). */
  payloadJwk: JWK;
  /** The newAccount URL. */
  url: string;
  alg?: 'HS256' | 'HS384' | 'HS512';
  /** Extra protected-header members (e.g. a forbidden `nonce`). */
  header?: Record<string, unknown>;
}

/** The flattened JWS of §7.3.4: protected {alg: HS*, kid, url}, payload = the account JWK, MAC with the EAB key. */
export async function eabJws(o: EabJwsOptions): Promise<Record<string, string>> {
  const alg = o.alg ?? 'HS256';
  const payload = new TextEncoder().encode(JSON.stringify(o.payloadJwk));
  const jws = await new FlattenedSign(payload)
    .setProtectedHeader({ alg, kid: o.kid, url: o.url, ...(o.header ?? {}) })
    .sign(Buffer.from(o.hmacKey, 'base64url'));
  return jws as unknown as Record<string, string>;
}
