/**
 * Interop: failover across two CA endpoints. Until the PostgreSQL HA store lands these are two
 * separate Anvil CAs whose roots are both in the agent's CA file (for TLS). The agent (embedded)
 * holds a certificate from the first; during its next renewal, right after the first CA created
 * the order, the first CA is killed (SIGKILL). The agent must finish on the second, and its files
 * must verify with openssl. The second CA's roots reach the trust bundle file before the
 * certificate chaining to them is installed (the bundle held only the first CA's roots before).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, parseAgentConfig, type AgentEvent } from 'anvil-ca/agent';
import { pino } from 'pino';
import { agentProfilesDir, keyMatchesCert, readInstalled } from '../helpers/agent-kit.js';
import { opensslVerify, readText, requireTool, splitPemChain, startAnvil, waitFor, type AcmeServer } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const skip = requireTool('openssl');

describe('agent failover: the first CA dies during a renewal, the second finishes it', { skip, timeout: 120_000 }, () => {
  let stack: InteropStack | undefined;
  let a: AcmeServer | undefined;
  let b: AcmeServer | undefined;
  let agent: Agent | undefined;
  const events: { at: number; event: AgentEvent }[] = [];
  let bundleBefore = '';
  let outDir = '';
  let bundleFile = '';
  let rootsA = '';
  let rootsB = '';

  before(async () => {
    stack = await openStack('anvil-agent-failover-');
    const work = stack.work;
    const profiles = agentProfilesDir(work);
    ({ server: a } = await stack.start({ extraArgs: ['--profiles-dir', profiles, '--log-level', 'warn'] }));
    b = await startAnvil({ dnsResolver: stack.dns.resolver, http01Port: stack.http01Port, dataDir: path.join(work, 'server-b'), extraArgs: ['--profiles-dir', profiles, '--log-level', 'warn'] });
    stack.onClose(() => b?.stop());
    rootsA = await readText(path.join(a.dataDir, 'trust-bundle.pem'));
    rootsB = await readText(path.join(b.dataDir, 'trust-bundle.pem'));
    const caFile = path.join(work, 'ca.pem');
    writeFileSync(caFile, `${await readText(a.rootPemPath)}${await readText(b.rootPemPath)}`);
    outDir = path.join(work, 'out');
    bundleFile = path.join(work, 'bundle.pem');
    const config = parseAgentConfig({
      ca: { directories: [a.directoryUrl, b.directoryUrl], caFile, requestTimeout: '5s', breaker: { failures: 1, cooldown: '1m' } },
      account: { keyFile: path.join(work, 'account.key') },
      challenge: { http01: { listen: `127.0.0.1:${stack.http01Port}` } },
      stateDir: path.join(work, 'state'),
      trustBundle: { file: bundleFile, refresh: '1h' },
      timing: { pollInterval: '100ms', backoffInitial: '1s' },
      certificates: [{ id: 'web', names: ['failover.agent.test'], profile: 'agent-short', output: { dir: outDir } }],
    });
    let renewals = 0;
    agent = new Agent({
      config,
      logger: pino({ level: 'silent' }),
      onEvent: async (event) => {
        events.push({ at: Date.now(), event });
        if (event.type === 'renewed') {
          renewals++;
          if (renewals === 1) bundleBefore = readFileSync(bundleFile, 'utf8');
        }
        // The second order (the first renewal) on CA A: kill A before the agent's next request.
        if (event.type === 'order-step' && event.step === 'order-created' && event.endpoint === a!.directoryUrl && renewals === 1) await a!.kill('SIGKILL');
      },
    });
    stack.onClose(() => agent?.stop());
    await agent.start();
    await waitFor('a renewal from CA B', () => events.some((e) => e.event.type === 'renewed' && e.event.endpoint === b!.directoryUrl), 60_000, 100).catch((error: Error) => {
      throw new Error(`${error.message}; events: ${JSON.stringify(events.map((e) => e.event)).slice(0, 4000)}`);
    });
    await agent.stop();
  }, { timeout: 100_000 });

  after(() => stack?.close());

  it('the first certificate came from CA A; the renewal interrupted on A finished on B', () => {
    const renewed = events.filter((e) => e.event.type === 'renewed').map((e) => (e.event as Extract<AgentEvent, { type: 'renewed' }>).endpoint);
    assert.equal(renewed[0], a!.directoryUrl);
    assert.equal(renewed.at(-1), b!.directoryUrl);
    const failed = events.filter((e) => e.event.type === 'endpoint-failed').map((e) => (e.event as { endpoint: string }).endpoint);
    assert.ok(failed.includes(a!.directoryUrl), 'CA A failed during the renewal');
    const renewalFailed = events.filter((e) => e.event.type === 'renewal-failed');
    assert.deepEqual(renewalFailed, [], 'the renewal did not fail as a whole: it failed over within the attempt');
  });

  it('the installed files verify with openssl against the trust bundle and B’s root', async () => {
    const installed = readInstalled(outDir);
    assert.ok(keyMatchesCert(installed.keyPem, installed.certPem));
    const bVerify = await opensslVerify(await readText(b!.rootPemPath), installed.chainPem, installed.certPem);
    assert.ok(bVerify.ok, bVerify.output);
    const bundleVerify = await opensslVerify(bundleFile, installed.chainPem, installed.certPem);
    assert.ok(bundleVerify.ok, bundleVerify.output);
    assert.equal(splitPemChain(installed.fullchainPem).length, 2, 'leaf and intermediate');
  });

  it('B’s roots were added to the trust bundle before the certificate chaining to them was installed; A’s stay', () => {
    const fps = (pem: string): string[] => splitPemChain(pem).map((p) => new X509Certificate(p).fingerprint256);
    const before = new Set(fps(bundleBefore));
    const now = new Set(fps(readFileSync(bundleFile, 'utf8')));
    for (const fp of fps(rootsA)) assert.ok(before.has(fp) && now.has(fp), 'A’s roots before and after');
    for (const fp of fps(rootsB)) {
      assert.ok(!before.has(fp), 'B’s roots were not in the bundle while only A was used');
      assert.ok(now.has(fp), 'B’s roots are in the bundle now');
    }
    const version = readInstalled(outDir).version;
    const certWritten = statSync(path.join(outDir, 'versions', version, 'cert.pem')).mtimeMs;
    assert.ok(statSync(bundleFile).mtimeMs <= certWritten, 'the bundle was written before the certificate');
  });
});
