/**
 * Running `anvil init` / `anvil ca …` and openssl from CA administration tests: exit-code and
 * message checks that print the whole command run on failure, and which manifest issuer signed a
 * chain.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describeRun, run, type RunResult } from '../interop/harness.js';
import { caCertPem, readManifestView } from './data-dir-scan.js';

/** Runs openssl in `cwd`; throws with its output when it fails. */
export async function openssl(args: string[], cwd: string): Promise<void> {
  const result = await run('openssl', args, { cwd, timeoutMs: 20_000 });
  if (result.code !== 0) throw new Error(`openssl failed\n${describeRun(result)}`);
}

/** The command refused: exit 1 and `message` on stderr. */
export function expectRefusal(result: RunResult, message: RegExp): void {
  assert.equal(result.code, 1, `must refuse with exit 1\n${describeRun(result)}`);
  assert.match(result.stderr, message, describeRun(result));
}

export function expectSuccess(result: RunResult): void {
  assert.equal(result.code, 0, describeRun(result));
}

/** The id of the manifest issuer whose certificate is `intermediatePem`. */
export function issuerIdOf(dataDir: string, intermediatePem: string): string | undefined {
  const der = new X509Certificate(intermediatePem).raw;
  return readManifestView(dataDir).issuers.find((i) => new X509Certificate(caCertPem(dataDir, i.certFile)).raw.equals(der))?.id;
}
