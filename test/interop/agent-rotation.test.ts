/**
 * Interop: CA rotation seen from the agent. `anvil agent` (a real process) keeps a certificate
 * and the trust bundle file; `anvil ca rotate` replaces the intermediate on the live CA. ARI
 * then says "renew now" for the old certificate (its issuer is retiring), and the agent renews
 * from the new intermediate. Throughout, a checker loop resolves the installed version and the
 * bundle file and requires the chain to verify against the bundle, and the bundle to hold both
 * roots (Anvil's primary and alternate root; the intermediate is cross-signed by both).
 *
 * Then the same through a root rotation (`anvil ca rotate --new-root`): the checker also requires
 * the bundle file to hold the old roots at every check and the new root from before the first
 * certificate chaining to it is installed, and the bundle's reload (which records the roots it saw)
 * to have run with the new root before that certificate appears.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chainsToBundle } from 'anvil-ca/agent';
import { agentProfilesDir, readInstalled, startAgentProcess, writeAgentConfig, type AgentProcess } from '../helpers/agent-kit.js';
import { caCertPem, readManifestView } from '../helpers/data-dir-scan.js';
import { anvilCli } from '../helpers/eab.js';
import { describeRun, opensslVerify, requireTool, splitPemChain, waitFor, type AcmeServer, type RunResult } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const skip = requireTool('openssl');

/** The agent of both rotations: one certificate, the trust bundle file, ARI looked at every 1–2 s. */
function rotationAgentConfig(stack: InteropStack, server: AcmeServer, o: { name: string; outDir: string; bundleFile: string; bundleRefresh: string; bundleReload: string; certReload: string }): string {
  const work = stack.work;
  return writeAgentConfig(path.join(work, 'agent.yaml'), {
    ca: { directories: [server.directoryUrl], caFile: server.rootPemPath },
    account: { keyFile: path.join(work, 'account.key') },
    challenge: { http01: { listen: `127.0.0.1:${stack.http01Port}` } },
    stateDir: path.join(work, 'state'),
    trustBundle: { file: o.bundleFile, refresh: o.bundleRefresh, reload: { command: o.bundleReload } },
    // Shortened: ARI is looked at every 1–2 s instead of Anvil's Retry-After.
    timing: { pollInterval: '100ms', backoffInitial: '1s', retryAfterMin: '1s', retryAfterMax: '2s' },
    certificates: [{ id: 'web', names: [o.name], profile: 'default', output: { dir: o.outDir }, reload: { command: o.certReload } }],
  });
}

/** Runs `check` every `ms` until the stack closes or the returned stop is called; a throw is a failure. */
function everyMs(stack: InteropStack, ms: number, failures: string[], check: () => void): () => void {
  const timer = setInterval(() => {
    try {
      check();
    } catch (error) {
      failures.push((error as Error).message);
    }
  }, ms);
  stack.onClose(() => clearInterval(timer));
  return () => clearInterval(timer);
}

/** Waits for the agent to install a version other than `before`, with its output on failure. */
async function waitForRenewal(what: string, outDir: string, before: string, agent: AgentProcess): Promise<void> {
  await waitFor(what, () => readInstalled(outDir).version !== before, 30_000, 100).catch((error: Error) => {
    throw new Error(`${error.message}\n--- agent output ---\n${agent.output().slice(-4000)}`);
  });
}

describe('agent through an intermediate rotation', { skip, timeout: 120_000 }, () => {
  let stack: InteropStack | undefined;
  let server: AcmeServer | undefined;
  let agent: AgentProcess | undefined;
  let outDir = '';
  let bundleFile = '';
  let certReloads = '';
  let before1: ReturnType<typeof readInstalled> | undefined;
  let after1: ReturnType<typeof readInstalled> | undefined;
  let rotation: RunResult | undefined;
  const checks = { runs: 0, failures: [] as string[], minRoots: Infinity };

  before(async () => {
    stack = await openStack('anvil-agent-rotation-');
    const work = stack.work;
    ({ server } = await stack.start({ extraArgs: ['--profiles-dir', agentProfilesDir(work), '--log-level', 'warn'] }));
    outDir = path.join(work, 'out');
    bundleFile = path.join(work, 'bundle.pem');
    certReloads = path.join(work, 'cert-reloads.log');
    const config = rotationAgentConfig(stack, server, {
      name: 'rotation.agent.test',
      outDir,
      bundleFile,
      bundleRefresh: '2s',
      bundleReload: `echo bundle >> '${path.join(work, 'bundle-reloads.log')}'`,
      certReload: `echo "$ANVIL_CERT_VERSION" >> '${certReloads}'`,
    });
    agent = startAgentProcess(['--config', config]);
    stack.onClose(() => agent?.stop());
    await waitFor('the first certificate and the bundle', () => existsSync(path.join(outDir, 'current')) && existsSync(bundleFile), 20_000, 50);
    before1 = readInstalled(outDir);

    const stopChecks = everyMs(stack, 50, checks.failures, () => {
      const installed = readInstalled(outDir);
      const bundle = readFileSync(bundleFile, 'utf8');
      checks.runs++;
      checks.minRoots = Math.min(checks.minRoots, splitPemChain(bundle).length);
      if (!chainsToBundle(installed.fullchainPem, bundle)) checks.failures.push(`${installed.version} does not chain to the bundle`);
    });

    rotation = await anvilCli(['ca', 'rotate', '--data-dir', server.dataDir]);
    await waitForRenewal('a renewal from the new intermediate', outDir, before1.version, agent);
    after1 = readInstalled(outDir);
    await new Promise((resolve) => setTimeout(resolve, 500));
    stopChecks();
  }, { timeout: 100_000 });

  after(() => stack?.close());

  it('anvil ca rotate succeeds on the live CA', () => {
    assert.ok(rotation);
    assert.equal(rotation.code, 0, describeRun(rotation));
  });

  it('ARI made the agent renew at once, from the new intermediate', () => {
    assert.ok(before1 && after1);
    const oldIssuer = new X509Certificate(splitPemChain(before1.chainPem)[0]!);
    const newIssuer = new X509Certificate(splitPemChain(after1.chainPem)[0]!);
    assert.notEqual(newIssuer.fingerprint256, oldIssuer.fingerprint256, 'a different intermediate');
    assert.ok(new X509Certificate(after1.certPem).checkIssued(newIssuer));
    assert.ok(agent!.events().some((e) => e.event === 'renewal-started' && e.reason === 'ARI window'), 'the renewal was driven by ARI');
  });

  it('the bundle held both roots and the installed chain verified against it throughout', (t) => {
    t.diagnostic(`${checks.runs} checks`);
    assert.ok(checks.runs > 10, 'the checker ran');
    assert.deepEqual(checks.failures, []);
    assert.equal(checks.minRoots, 2, 'primary and alternate root in the bundle at every check');
  });

  it('openssl verifies the new chain against the bundle file; the cert reload ran once per version', async () => {
    const verify = await opensslVerify(bundleFile, after1!.chainPem, after1!.certPem);
    assert.ok(verify.ok, verify.output);
    assert.deepEqual(readFileSync(certReloads, 'utf8').trim().split('\n'), [before1!.version, after1!.version]);
  });
});

describe('agent through a root rotation (anvil ca rotate --new-root)', { skip, timeout: 120_000 }, () => {
  let stack: InteropStack | undefined;
  let server: AcmeServer | undefined;
  let agent: AgentProcess | undefined;
  let outDir = '';
  let bundleFile = '';
  let events = '';
  let oldRoots: X509Certificate[] = [];
  let newRoot: X509Certificate | undefined;
  let before1: ReturnType<typeof readInstalled> | undefined;
  let after1: ReturnType<typeof readInstalled> | undefined;
  let rotation: RunResult | undefined;
  const checks = { runs: 0, failures: [] as string[], newRootChecks: 0 };

  before(async () => {
    stack = await openStack('anvil-agent-root-rotation-');
    const work = stack.work;
    ({ server } = await stack.start({ extraArgs: ['--profiles-dir', agentProfilesDir(work), '--log-level', 'warn'] }));
    outDir = path.join(work, 'out');
    bundleFile = path.join(work, 'bundle.pem');
    events = path.join(work, 'events.log');
    oldRoots = splitPemChain(readFileSync(path.join(server.dataDir, 'trust-bundle.pem'), 'utf8')).map((p) => new X509Certificate(p));
    // The bundle reload records the root fingerprints it was run for; the cert reload its version.
    const bundleReload = `node -e "const {X509Certificate}=require('node:crypto');const t=require('node:fs').readFileSync(process.argv[1],'utf8');const r=t.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g).map(p=>new X509Certificate(p).fingerprint256);require('node:fs').appendFileSync(process.argv[2],'bundle '+r.join(',')+'\\n')" '${bundleFile}' '${events}'`;
    // The bundle is refreshed only before installs.
    const config = rotationAgentConfig(stack, server, {
      name: 'root-rotation.agent.test',
      outDir,
      bundleFile,
      bundleRefresh: '1h',
      bundleReload,
      certReload: `echo "cert $ANVIL_CERT_VERSION" >> '${events}'`,
    });
    agent = startAgentProcess(['--config', config]);
    stack.onClose(() => agent?.stop());
    await waitFor('the first certificate and the bundle', () => existsSync(path.join(outDir, 'current')) && existsSync(bundleFile), 20_000, 50);
    before1 = readInstalled(outDir);

    const stopChecks = everyMs(stack, 25, checks.failures, () => {
      const installed = readInstalled(outDir);
      const bundle = readFileSync(bundleFile, 'utf8');
      const inBundle = new Set(splitPemChain(bundle).map((p) => new X509Certificate(p).fingerprint256));
      checks.runs++;
      if (!chainsToBundle(installed.fullchainPem, bundle)) checks.failures.push(`${installed.version} does not chain to the bundle`);
      for (const r of oldRoots) if (!inBundle.has(r.fingerprint256)) checks.failures.push(`old root ${r.subject} missing from the bundle`);
      const top = new X509Certificate(splitPemChain(installed.chainPem).at(-1)!);
      if (newRoot && top.checkIssued(newRoot) && top.verify(newRoot.publicKey)) {
        checks.newRootChecks++;
        if (!inBundle.has(newRoot.fingerprint256)) checks.failures.push(`${installed.version} chains to the new root, which is not in the bundle`);
        const reloadedWithNewRoot = readFileSync(events, 'utf8').split('\n').some((l) => l.startsWith('bundle ') && l.includes(newRoot!.fingerprint256));
        if (!reloadedWithNewRoot) checks.failures.push(`${installed.version} chains to the new root before the bundle reload ran with it`);
      }
    });

    rotation = await anvilCli(['ca', 'rotate', '--new-root', '--data-dir', server.dataDir]);
    // From the manifest: root.pem is rewritten by the server when it reloads, a moment later.
    const manifest = readManifestView(server.dataDir);
    newRoot = new X509Certificate(caCertPem(server.dataDir, manifest.roots.find((r) => r.status === 'active')!.certFile));
    appendFileSync(events, 'rotated\n');
    await waitForRenewal('a renewal under the new root', outDir, before1.version, agent);
    after1 = readInstalled(outDir);
    await new Promise((resolve) => setTimeout(resolve, 500));
    stopChecks();
  }, { timeout: 100_000 });

  after(() => stack?.close());

  it('anvil ca rotate --new-root succeeds on the live CA', () => {
    assert.ok(rotation);
    assert.equal(rotation.code, 0, describeRun(rotation));
    assert.ok(newRoot && !oldRoots.some((r) => r.fingerprint256 === newRoot!.fingerprint256), 'a new root');
  });

  it('the agent renewed at once, with a chain leading to the new root', () => {
    const top = new X509Certificate(splitPemChain(after1!.chainPem).at(-1)!);
    assert.ok(top.checkIssued(newRoot!) && top.verify(newRoot!.publicKey), 'the new chain ends under the new root');
    assert.ok(agent!.events().some((e) => e.event === 'renewal-started' && e.reason === 'ARI window'), 'the renewal was driven by ARI');
  });

  it('throughout: the chain verified against the bundle, the bundle held the old roots and, before the first new-root certificate, the new one', (t) => {
    t.diagnostic(`${checks.runs} checks, ${checks.newRootChecks} of them with the new-root certificate installed`);
    assert.ok(checks.runs > 10 && checks.newRootChecks > 0, 'the checker saw both certificates');
    assert.deepEqual(checks.failures, []);
  });

  it('the bundle reload ran with the new root before the new certificate was installed and reloaded', async () => {
    const lines = readFileSync(events, 'utf8').trim().split('\n');
    const rotated = lines.indexOf('rotated');
    const bundleWithNew = lines.findIndex((l, i) => i > rotated && l.startsWith('bundle ') && l.includes(newRoot!.fingerprint256));
    const certNew = lines.indexOf(`cert ${after1!.version}`);
    assert.ok(rotated >= 0 && bundleWithNew > rotated && certNew > bundleWithNew, lines.join('\n'));
    const withNew = lines[bundleWithNew]!;
    for (const r of oldRoots) assert.ok(withNew.includes(r.fingerprint256), 'that reload saw the old roots too');
    const verify = await opensslVerify(bundleFile, after1!.chainPem, after1!.certPem);
    assert.ok(verify.ok, verify.output);
  });
});
