/**
 * Interop: a CA outage longer than the renewal window. `anvil agent` (a real process) holds a
 * one-minute certificate whose window is 6–12 s after issuance; the only CA is stopped right
 * after the first issuance and stays down past the window's end. The installed files must stay
 * in place, `anvil agent status` must exit non-zero and say overdue, /metrics and /healthz must
 * show it. Then the CA comes back at the same URL and the agent renews within one backoff step.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { agentProfilesDir, keyMatchesCert, metricValue, readInstalled, startAgentProcess, writeAgentConfig, type AgentProcess } from '../helpers/agent-kit.js';
import { plainRequest as httpGet } from '../helpers/admin-http.js';
import { freePort, requireTool, run, serverEntry, waitFor, type AcmeServer, type RunResult } from './harness.js';
import { openStack, type InteropStack } from './stack.js';
import { existsSync } from 'node:fs';

const skip = requireTool('openssl');

describe('agent outage: every endpoint down past the renewal window', { skip, timeout: 120_000 }, () => {
  let stack: InteropStack | undefined;
  let server: AcmeServer | undefined;
  let agent: AgentProcess | undefined;
  let config = '';
  let outDir = '';
  let metricsPort = 0;
  let firstVersion = '';
  let firstSerialCert = '';
  let duringStatus: RunResult | undefined;
  let duringMetrics = '';
  let duringHealth: { status: number; body: string } | undefined;
  let filesDuring: ReturnType<typeof readInstalled> | undefined;
  let restartedAt = 0;
  let nextAttemptAfterRestart = 0;
  let backoffStepMs = 0;
  let renewedAt = 0;

  const status = (json = false): Promise<RunResult> => run(process.execPath, [serverEntry(), 'agent', 'status', '--config', config, ...(json ? ['--json'] : [])], { timeoutMs: 20_000 });

  before(async () => {
    stack = await openStack('anvil-agent-outage-');
    const work = stack.work;
    const port = await freePort();
    const profiles = agentProfilesDir(work);
    const serverArgs = { extraArgs: ['--profiles-dir', profiles, '--log-level', 'warn'], port, dataDir: path.join(work, 'server') };
    ({ server } = await stack.start(serverArgs));
    outDir = path.join(work, 'out');
    metricsPort = await freePort();
    config = writeAgentConfig(path.join(work, 'agent.yaml'), {
      ca: { directories: [server.directoryUrl], caFile: server.rootPemPath, requestTimeout: '2s', breaker: { failures: 2, cooldown: '3s' } },
      account: { keyFile: path.join(work, 'account.key') },
      challenge: { http01: { listen: `127.0.0.1:${stack.http01Port}` } },
      stateDir: path.join(work, 'state'),
      listen: `127.0.0.1:${metricsPort}`,
      timing: { pollInterval: '100ms', backoffInitial: '1s' },
      certificates: [{ id: 'web', names: ['outage.agent.test'], profile: 'agent-short', output: { dir: outDir } }],
    });
    agent = startAgentProcess(['--config', config]);
    stack.onClose(() => agent?.stop());
    await waitFor('the first certificate', () => existsSync(path.join(outDir, 'current')), 20_000, 50);
    await waitFor('the ARI window', () => agent!.events().some((e) => e.event === 'ari-fetched'), 20_000, 50);
    const first = readInstalled(outDir);
    firstVersion = first.version;
    firstSerialCert = first.certPem;
    await server.stop();

    // Past the window end (12 s after issuance), with the agent failing all along.
    const parsed = (r: RunResult): { notAfter: number; windowEnd: number; failures: number; nextRenewal: number }[] => JSON.parse(r.stdout);
    await waitFor('renewal overdue', async () => {
      const s = parsed(await status(true))[0]!;
      return s.failures >= 2 && Date.now() > s.windowEnd;
    }, 40_000, 500).catch((error: Error) => {
      throw new Error(`${error.message}\n--- agent output (tail) ---\n${agent!.output().slice(-5000)}`);
    });
    duringStatus = await status();
    duringMetrics = (await httpGet(`http://127.0.0.1:${metricsPort}/metrics`)).body;
    duringHealth = await httpGet(`http://127.0.0.1:${metricsPort}/healthz`);
    filesDuring = readInstalled(outDir);

    ({ server } = await stack.start(serverArgs));
    restartedAt = Date.now();
    const s = parsed(await status(true))[0]!;
    nextAttemptAfterRestart = s.nextRenewal;
    // One backoff step: the agent's own cap for this certificate (a tenth of the time left, at least 1 s).
    backoffStepMs = Math.max(1_000, Math.floor((s.notAfter - restartedAt) / 10));
    await waitFor('a renewal after the CA came back', () => readInstalled(outDir).version !== firstVersion, 30_000, 100);
    renewedAt = Date.now();
  }, { timeout: 110_000 });

  after(() => stack?.close());

  it('during the outage the installed files stay in place and still match', () => {
    assert.ok(filesDuring);
    assert.equal(filesDuring.version, firstVersion);
    assert.equal(filesDuring.certPem, firstSerialCert);
    assert.ok(keyMatchesCert(filesDuring.keyPem, filesDuring.certPem));
  });

  it('anvil agent status exits non-zero and says overdue, with the last error', () => {
    assert.ok(duringStatus);
    assert.equal(duringStatus.code, 1, duringStatus.stdout + duringStatus.stderr);
    assert.match(duringStatus.stdout, /web \[overdue\] outage\.agent\.test/);
    assert.match(duringStatus.stdout, /consecutive failures [2-9]/);
    assert.match(duringStatus.stdout, /last error: .*ECONNREFUSED|last error: .*connect/);
  });

  it('metrics and /healthz show the outage', () => {
    assert.ok((metricValue(duringMetrics, 'anvil_agent_consecutive_failures', { id: 'web' }) ?? 0) >= 2, duringMetrics);
    assert.equal(metricValue(duringMetrics, 'anvil_agent_renewal_overdue', { id: 'web' }), 1, duringMetrics);
    assert.equal(metricValue(duringMetrics, 'anvil_agent_endpoint_up', { endpoint: server!.directoryUrl }), 0, duringMetrics);
    assert.ok((metricValue(duringMetrics, 'anvil_agent_certificate_expiry_timestamp_seconds', { id: 'web' }) ?? 0) > 0);
    assert.equal(duringHealth?.status, 503, duringHealth?.body);
  });

  it('after the CA returns, the agent renews within one backoff step', (t) => {
    t.diagnostic(`renewed ${renewedAt - restartedAt} ms after the restart; next attempt was due ${nextAttemptAfterRestart - restartedAt} ms after it; backoff step ${backoffStepMs} ms`);
    assert.ok(renewedAt - restartedAt <= backoffStepMs + 3_000, `renewed ${renewedAt - restartedAt} ms after the CA returned (step ${backoffStepMs} ms + 3 s for the order)`);
  });

  it('status is healthy again', async () => {
    const r = await status();
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /web \[ok\]/);
  });
});
