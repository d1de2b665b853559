/**
 * Interop: the operator's fallback credential. `anvil agent` (a real process) holds a one-minute
 * certificate (window 6–12 s after issuance) with `fallback` configured (an openssl-made
 * certificate and key, margin 45 s). The only CA is stopped after the first issuance. Once
 * every endpoint is failing and the certificate is within the margin of expiry, the agent must
 * install the fallback through the atomic swap (openssl: its key matches its certificate), run
 * the reload once, log it, set anvil_agent_fallback_active to 1 and make `anvil agent status`
 * exit non-zero saying FALLBACK. When the CA returns, the next renewal replaces the fallback and
 * the gauge goes back to 0.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { plainRequest as httpGet } from '../helpers/admin-http.js';
import { agentProfilesDir, metricValue, readInstalled, startAgentProcess, writeAgentConfig, type AgentProcess } from '../helpers/agent-kit.js';
import { describeRun, freePort, opensslVerify, requireTool, run, serverEntry, waitFor, type AcmeServer, type RunResult } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const skip = requireTool('openssl');

/** The public key of a certificate and of a private key file, as openssl prints them. */
async function opensslPublicKeys(certFile: string, keyFile: string): Promise<{ cert: string; key: string }> {
  const cert = await run('openssl', ['x509', '-in', certFile, '-noout', '-pubkey']);
  const key = await run('openssl', ['pkey', '-in', keyFile, '-pubout']);
  assert.equal(cert.code, 0, describeRun(cert));
  assert.equal(key.code, 0, describeRun(key));
  return { cert: cert.stdout.trim(), key: key.stdout.trim() };
}

describe('agent fallback credential: every endpoint down into the expiry margin', { skip, timeout: 150_000 }, () => {
  let stack: InteropStack | undefined;
  let server: AcmeServer | undefined;
  let agent: AgentProcess | undefined;
  let work = '';
  let config = '';
  let outDir = '';
  let reloads = '';
  let metricsPort = 0;
  let firstVersion = '';
  let fallbackVersion = '';
  let fallbackStatus: RunResult | undefined;
  let fallbackMetrics = '';
  let renewed: ReturnType<typeof readInstalled> | undefined;
  let renewedMetrics = '';
  let fallbackKeyPem = '';

  const status = (): Promise<RunResult> => run(process.execPath, [serverEntry(), 'agent', 'status', '--config', config], { timeoutMs: 20_000 });

  before(async () => {
    stack = await openStack('anvil-agent-fallback-');
    work = stack.work;
    const made = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(work, 'fallback.key'), '-out', path.join(work, 'fallback.pem'), '-days', '7', '-subj', '/CN=fallback.agent.test', '-addext', 'subjectAltName=DNS:fallback.agent.test']);
    assert.equal(made.code, 0, describeRun(made));
    fallbackKeyPem = readFileSync(path.join(work, 'fallback.key'), 'utf8');
    const port = await freePort();
    const serverArgs = { extraArgs: ['--profiles-dir', agentProfilesDir(work), '--log-level', 'warn'], port, dataDir: path.join(work, 'server') };
    ({ server } = await stack.start(serverArgs));
    outDir = path.join(work, 'out');
    reloads = path.join(work, 'reloads.log');
    metricsPort = await freePort();
    config = writeAgentConfig(path.join(work, 'agent.yaml'), {
      ca: { directories: [server.directoryUrl], caFile: server.rootPemPath, requestTimeout: '2s', breaker: { failures: 2, cooldown: '3s' } },
      account: { keyFile: path.join(work, 'account.key') },
      challenge: { http01: { listen: `127.0.0.1:${stack.http01Port}` } },
      stateDir: path.join(work, 'state'),
      listen: `127.0.0.1:${metricsPort}`,
      timing: { pollInterval: '100ms', backoffInitial: '1s' },
      certificates: [
        {
          id: 'web',
          names: ['fallback.agent.test'],
          profile: 'agent-short',
          output: { dir: outDir },
          reload: { command: `echo "$ANVIL_CERT_VERSION" >> '${reloads}'` },
          fallback: { cert: 'fallback.pem', key: 'fallback.key', margin: '45s' },
        },
      ],
    });
    agent = startAgentProcess(['--config', config]);
    stack.onClose(() => agent?.stop());
    await waitFor('the first certificate', () => existsSync(path.join(outDir, 'current')), 20_000, 50);
    firstVersion = readInstalled(outDir).version;
    await server.stop();

    await waitFor('the fallback credential installed', () => readInstalled(outDir).version.includes('fallback'), 60_000, 100).catch((error: Error) => {
      throw new Error(`${error.message}\n--- agent output (tail) ---\n${agent!.output().slice(-5000)}`);
    });
    fallbackVersion = readInstalled(outDir).version;
    await waitFor('the reload of the fallback', () => existsSync(reloads) && readFileSync(reloads, 'utf8').includes(fallbackVersion), 10_000, 50);
    fallbackStatus = await status();
    fallbackMetrics = (await httpGet(`http://127.0.0.1:${metricsPort}/metrics`)).body;

    ({ server } = await stack.start(serverArgs));
    await waitFor('a CA-issued certificate replacing the fallback', () => !readInstalled(outDir).version.includes('fallback'), 30_000, 100).catch((error: Error) => {
      throw new Error(`${error.message}\n--- agent output (tail) ---\n${agent!.output().slice(-5000)}`);
    });
    renewed = readInstalled(outDir);
    await waitFor('the reload of the renewed certificate', () => readFileSync(reloads, 'utf8').includes(renewed!.version), 10_000, 50);
    renewedMetrics = (await httpGet(`http://127.0.0.1:${metricsPort}/metrics`)).body;
  }, { timeout: 140_000 });

  after(() => stack?.close());

  it('the fallback files are installed through the swap, and openssl says the key matches the certificate', async () => {
    const real = path.join(outDir, 'versions', fallbackVersion);
    assert.equal(readFileSync(path.join(real, 'cert.pem'), 'utf8'), readFileSync(path.join(work, 'fallback.pem'), 'utf8'));
    const keys = await opensslPublicKeys(path.join(real, 'cert.pem'), path.join(real, 'key.pem'));
    assert.equal(keys.key, keys.cert, 'openssl: the installed key is the installed certificate\'s');
    assert.notEqual(fallbackVersion, firstVersion);
  });

  it('anvil agent status exits non-zero and says the fallback is in place', () => {
    assert.ok(fallbackStatus);
    assert.equal(fallbackStatus.code, 1, describeRun(fallbackStatus));
    assert.match(fallbackStatus.stdout, /web \[fallback\] fallback\.agent\.test/);
    assert.match(fallbackStatus.stdout, /FALLBACK credential installed since/);
  });

  it('the metric and the log say so, and the key never reaches the log', () => {
    assert.equal(metricValue(fallbackMetrics, 'anvil_agent_fallback_active', { id: 'web' }), 1, fallbackMetrics);
    const logged = agent!.events().filter((e) => e.event === 'fallback-installed');
    assert.equal(logged.length, 1, 'installed once, however many retries failed');
    assert.equal(logged[0]!.level, 50, 'logged at error level');
    const body = fallbackKeyPem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    assert.ok(!agent!.output().includes(body.slice(0, 40)), 'no key material in the output');
  });

  it('when the CA returns, a CA-issued certificate replaces the fallback and the gauge goes back to 0', async () => {
    assert.ok(renewed);
    const verify = await opensslVerify(server!.rootPemPath, renewed.chainPem, renewed.certPem);
    assert.ok(verify.ok, verify.output);
    assert.equal(metricValue(renewedMetrics, 'anvil_agent_fallback_active', { id: 'web' }), 0, renewedMetrics);
    const r = await status();
    assert.equal(r.code, 0, describeRun(r));
    assert.doesNotMatch(r.stdout, /FALLBACK/);
    // The reload ran once per installed version: the first certificate, the fallback, the renewal.
    assert.deepEqual(readFileSync(reloads, 'utf8').trim().split('\n'), [firstVersion, fallbackVersion, renewed.version]);
  });

  it('a fallback without its key is refused at start, naming the field', async () => {
    const bad = writeAgentConfig(path.join(work, 'bad.yaml'), {
      ca: { directories: ['https://127.0.0.1:1/dir'] },
      account: { keyFile: 'account.key' },
      stateDir: 'state',
      certificates: [{ id: 'web', names: ['x.test'], output: { dir: 'out' }, fallback: { cert: 'fallback.pem' } }],
    });
    const r = await run(process.execPath, [serverEntry(), 'agent', 'check', '--config', bad], { timeoutMs: 20_000 });
    assert.notEqual(r.code, 0, describeRun(r));
    assert.match(r.stderr, /certificates\.0\.fallback\.key/);
  });
});
