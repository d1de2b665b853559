/**
 * openssl as the judge of revocation information: `openssl ocsp` (request, fetch, verify the
 * response signature and print each status), `openssl crl -text`, and `openssl verify -crl_check`.
 * Every call is bounded; results carry the command's output for assertion messages.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describeRun, run, type RunResult } from '../interop/harness.js';
import { derToPem } from './revocation-http.js';

export interface OcspRun {
  result: RunResult;
  /** stdout + stderr, for messages. */
  output: string;
  /** openssl printed "Response verify OK" (signature and responder authorisation checked). */
  verified: boolean;
  /** `good`, `revoked` or `unknown` from the `<cert>: <status>` line. */
  status: string | undefined;
  /** The `Reason:` line (openssl's name, e.g. keyCompromise), when revoked with a reason. */
  reason: string | undefined;
  /** The nonce line openssl complained about, if any ("WARNING: no nonce in response", "nonce verify error"). */
  nonceProblem: string | undefined;
}

export interface OcspRunOptions {
  issuerPath: string;
  certPath: string;
  url: string;
  rootPath: string;
  /** Extra flags placed before `-cert` (digest flags like -sha256 apply to the CertIDs after them). */
  before?: string[];
  /** Extra flags at the end (-nonce, -no_nonce, -reqout f, -respout f, -resp_text). */
  after?: string[];
}

/** `openssl ocsp -issuer I [before] -cert C -url U -CAfile ROOT [after]`. */
export async function opensslOcsp(o: OcspRunOptions): Promise<OcspRun> {
  const args = ['ocsp', '-issuer', o.issuerPath, ...(o.before ?? []), '-cert', o.certPath, '-url', o.url, '-CAfile', o.rootPath, '-timeout', '10', ...(o.after ?? [])];
  const result = await run('openssl', args, { timeoutMs: 30_000 });
  return readOcspRun(result, o.certPath);
}

/** `openssl ocsp -respin R -issuer I -cert C -CAfile ROOT`: judge a response fetched some other way (GET). */
export async function opensslOcspRespin(respinPath: string, o: Omit<OcspRunOptions, 'url'>): Promise<OcspRun> {
  const args = ['ocsp', '-respin', respinPath, '-issuer', o.issuerPath, ...(o.before ?? []), '-cert', o.certPath, '-CAfile', o.rootPath, '-no_nonce', ...(o.after ?? [])];
  const result = await run('openssl', args, { timeoutMs: 30_000 });
  return readOcspRun(result, o.certPath);
}

function readOcspRun(result: RunResult, certPath: string): OcspRun {
  const output = `${result.stdout}\n${result.stderr}`;
  const escaped = certPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const status = new RegExp(`^${escaped}: (\\w+)`, 'm').exec(result.stdout)?.[1];
  const reason = /^\s*Reason: (\w+)/m.exec(result.stdout)?.[1];
  const nonceProblem = /^(WARNING: no nonce in response|nonce verify error)/m.exec(output)?.[1];
  return { result, output: describeRun(result), verified: /^Response verify OK/m.test(output), status, reason, nonceProblem };
}

/** `openssl crl -inform DER -text -noout` of a DER file. */
export async function opensslCrlText(derPath: string): Promise<string> {
  const result = await run('openssl', ['crl', '-inform', 'DER', '-in', derPath, '-text', '-noout'], { timeoutMs: 20_000 });
  if (result.code !== 0) throw new Error(`openssl crl could not read ${derPath}\n${describeRun(result)}`);
  return result.stdout;
}

export interface CrlVerifyResult {
  ok: boolean;
  /** The `error N at depth D lookup: text` line, when openssl refused. */
  error: string | undefined;
  output: string;
}

/** `openssl verify -crl_check -CRLfile crl.pem -CAfile root -untrusted intermediate leaf`; the CRL is written as PEM. */
export async function opensslVerifyWithCrl(dir: string, rootPath: string, intermediatePath: string, leafPath: string, crlDer: Uint8Array, name = 'crl'): Promise<CrlVerifyResult> {
  const crlPem = path.join(dir, `${name}.pem`);
  await writeFile(crlPem, derToPem(crlDer, 'X509 CRL'));
  const result = await run('openssl', ['verify', '-crl_check', '-CRLfile', crlPem, '-CAfile', rootPath, '-untrusted', intermediatePath, leafPath], { timeoutMs: 20_000 });
  const output = `${result.stdout}\n${result.stderr}`;
  return {
    ok: result.code === 0 && result.stdout.includes(`${leafPath}: OK`),
    error: /error \d+ at \d+ depth lookup: .*/.exec(output)?.[0],
    output: describeRun(result),
  };
}
