/**
 * `anvil probe`: a synthetic end-to-end check of a live CA, for cron and monitoring. It registers,
 * orders a certificate for a probe name (answering http-01 itself, or relying on an EAB
 * credential that pre-authorizes the name), verifies the chain up to the trusted root, revokes it,
 * and checks that OCSP answers `revoked` and the CRL lists it and is fresh. Each step is timed;
 * the first failing step is named and the exit status is 1. Optionally pushes metrics to a
 * Prometheus Pushgateway.
 */
import { createServer, request as httpRequest } from 'node:http';
import { request as httpsRequest, Agent } from 'node:https';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import acme from 'acme-client';
import { pemToDerList } from '../ca/certificate-builder.js';
import { parseDuration } from '../config/settings.js';
import { checkCrl, checkOcsp } from '../ops/probe-checks.js';
import { checkDirectoryReachable } from './tls-preflight.js';
import { parseOptions, UsageError } from './usage-error.js';

export const PROBE_USAGE = `Usage: anvil probe --directory <url> [--ca-file <root.pem>] [--name <probe name>] [--profile <name>]
  [--http01-port 80] [--http01-address 0.0.0.0] [--eab-kid <kid> --eab-hmac-key <key>]
  [--crl-wait 30s] [--timeout 2m] [--push-url <pushgateway url>] [--json]`;

interface StepResult {
  step: string;
  ok: boolean;
  ms: number;
  detail?: string;
}

class StepFailure extends Error {}

export async function probeCommand(args: string[]): Promise<number> {
  const v = parseOptions(args, {
    directory: { type: 'string' },
    'ca-file': { type: 'string' },
    name: { type: 'string' },
    profile: { type: 'string' },
    'http01-port': { type: 'string' },
    'http01-address': { type: 'string' },
    'eab-kid': { type: 'string' },
    'eab-hmac-key': { type: 'string' },
    'crl-wait': { type: 'string' },
    timeout: { type: 'string' },
    'push-url': { type: 'string' },
    json: { type: 'boolean' },
  }) as Record<string, string | boolean | undefined>;
  if (typeof v.directory !== 'string') throw new UsageError('--directory is required');
  const directory = v.directory;
  const caPem = typeof v['ca-file'] === 'string' ? readFileSync(v['ca-file'], 'utf8') : undefined;
  const name = typeof v.name === 'string' ? v.name : `probe-${Date.now().toString(36)}.anvil-probe.internal`;
  const crlWaitMs = parseDuration(typeof v['crl-wait'] === 'string' ? v['crl-wait'] : '30s') ?? 30_000;
  const deadline = Date.now() + (parseDuration(typeof v.timeout === 'string' ? v.timeout : '2m') ?? 120_000);
  if (caPem) acme.axios.defaults.httpsAgent = new Agent({ ca: caPem });
  acme.axios.defaults.timeout = 30_000;

  const results: StepResult[] = [];
  const step = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      if (Date.now() > deadline) throw new Error('probe timeout reached');
      const value = await fn();
      results.push({ step: label, ok: true, ms: Date.now() - started });
      return value;
    } catch (e) {
      const detail = (e as Error).message;
      results.push({ step: label, ok: false, ms: Date.now() - started, detail });
      throw new StepFailure(`${label}: ${detail}`);
    }
  };

  const tokens = new Map<string, string>();
  const responder = createServer((req, res) => {
    const token = req.url?.split('/').pop() ?? '';
    const answer = tokens.get(token);
    res.statusCode = answer ? 200 : 404;
    res.end(answer ?? '');
  });
  let failure: string | undefined;
  try {
    await step('directory', () => checkDirectoryReachable(directory, caPem));
    const client = new acme.Client({
      directoryUrl: directory,
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      ...(typeof v['eab-kid'] === 'string' && typeof v['eab-hmac-key'] === 'string' ? { externalAccountBinding: { kid: v['eab-kid'], hmacKey: v['eab-hmac-key'] } } : {}),
    });
    await step('account', () => client.createAccount({ termsOfServiceAgreed: true }));
    const order = await step('order', () => client.createOrder({ identifiers: [{ type: 'dns', value: name }], ...(typeof v.profile === 'string' ? { profile: v.profile } : {}) } as never));
    await step('authorization', async () => {
      for (const authz of await client.getAuthorizations(order)) {
        if (authz.status === 'valid') continue;
        const challenge = authz.challenges.find((c) => c.type === 'http-01');
        if (!challenge) throw new Error(`no http-01 challenge for ${name} (give --eab-kid/--eab-hmac-key for a pre-authorizing credential)`);
        if (!responder.listening) {
          const port = Number(v['http01-port'] ?? 80);
          await new Promise<void>((resolve, reject) => {
            responder.once('error', reject);
            responder.listen(port, typeof v['http01-address'] === 'string' ? v['http01-address'] : '0.0.0.0', resolve);
          });
        }
        tokens.set(challenge.token, await client.getChallengeKeyAuthorization(challenge));
        await client.completeChallenge(challenge);
        await client.waitForValidStatus(challenge);
      }
    });
    const [, csr] = await acme.crypto.createCsr({ altNames: [name] }, await acme.crypto.createPrivateEcdsaKey());
    const chainPem = await step('issuance', async () => client.getCertificate(await client.finalizeOrder(order, csr)));
    const [leaf, issuer] = await step('chain', async () => verifyChain(chainPem, caPem));
    await step('revocation', () => client.revokeCertificate(chainPem, { reason: 5 }));
    await step('ocsp', () => checkOcsp(leaf, issuer, 'revoked'));
    await step('crl', () => checkCrl(leaf, issuer, crlWaitMs));
  } catch (e) {
    failure = e instanceof StepFailure ? e.message : `unexpected: ${(e as Error).message}`;
  } finally {
    if (responder.listening) responder.close();
  }
  report(results, failure, v.json === true);
  if (typeof v['push-url'] === 'string') await push(v['push-url'], results, failure === undefined).catch((e) => process.stderr.write(`anvil probe: push failed: ${(e as Error).message}\n`));
  return failure ? 1 : 0;
}

function report(results: StepResult[], failure: string | undefined, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify({ ok: failure === undefined, failure, steps: results }) + '\n');
    return;
  }
  for (const r of results) process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.step.padEnd(14)} ${String(r.ms).padStart(6)} ms${r.detail ? `  ${r.detail}` : ''}\n`);
  process.stdout.write(failure ? `probe FAILED at ${failure}\n` : 'probe passed\n');
}

/** The leaf chains through the served intermediate to a root in the CA file (or the system store). */
function verifyChain(chainPem: string, caPem: string | undefined): [X509Certificate, X509Certificate] {
  const certs = pemToDerList(chainPem).map((d) => new X509Certificate(Buffer.from(d)));
  const [leaf, issuer] = certs;
  if (!leaf || !issuer) throw new Error('the chain must hold the leaf and its issuer');
  if (!leaf.checkIssued(issuer) || !leaf.verify(issuer.publicKey)) throw new Error('the leaf is not signed by the served intermediate');
  if (new Date(leaf.validTo) <= new Date()) throw new Error('the leaf is already expired');
  if (caPem) {
    const roots = pemToDerList(caPem).map((d) => new X509Certificate(Buffer.from(d)));
    const top = certs[certs.length - 1]!;
    if (!roots.some((r) => top.checkIssued(r) && top.verify(r.publicKey))) throw new Error('the chain does not lead to a root in the CA file');
  }
  return [leaf, issuer];
}

/** Pushgateway text format: POST <url>/metrics/job/anvil_probe. */
function push(url: string, results: StepResult[], ok: boolean): Promise<void> {
  const lines = [
    '# TYPE anvil_probe_success gauge',
    `anvil_probe_success ${ok ? 1 : 0}`,
    '# TYPE anvil_probe_step_seconds gauge',
    ...results.map((r) => `anvil_probe_step_seconds{step="${r.step}",ok="${r.ok}"} ${(r.ms / 1000).toFixed(3)}`),
    '# TYPE anvil_probe_last_run_timestamp_seconds gauge',
    `anvil_probe_last_run_timestamp_seconds ${Math.floor(Date.now() / 1000)}`,
  ];
  const target = `${url.replace(/\/+$/, '')}/metrics/job/anvil_probe`;
  return new Promise((resolve, reject) => {
    const req = (target.startsWith('https:') ? httpsRequest : httpRequest)(target, { method: 'POST', headers: { 'Content-Type': 'text/plain; version=0.0.4' }, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => ((res.statusCode ?? 500) < 300 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(lines.join('\n') + '\n');
  });
}
