/**
 * Interop: the agent is a plain ACME client. Against Debian's Pebble 2.4 (no ARI, no trust
 * bundle) `anvil agent --once` issues, the files verify with openssl against Pebble's root, the
 * schedule falls back to ⅔ of the lifetime minus at most 1/20 of it, a second pass renews
 * nothing, and `--once --force` renews with a new key, keeps the previous version and reloads once.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { keyMatchesCert, readInstalled, writeAgentConfig } from '../helpers/agent-kit.js';
import { describeRun, httpsGet, opensslVerify, readText, requireTool, run, serverEntry, startPebble, type RunResult } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const skip = requireTool('pebble') || requireTool('openssl');

describe('agent against Pebble (generic ACME, no ARI)', { skip, timeout: 120_000 }, () => {
  let stack: InteropStack | undefined;
  let config = '';
  let outDir = '';
  let reloadLog = '';
  let rootPem = '';
  let directoryUrl = '';
  const agent = (...args: string[]): Promise<RunResult> => run(process.execPath, [serverEntry(), 'agent', ...args, '--config', config], { timeoutMs: 60_000 });
  const reloads = (): string[] => (existsSync(reloadLog) ? readFileSync(reloadLog, 'utf8').trim().split('\n').filter(Boolean) : []);

  before(async () => {
    stack = await openStack('anvil-agent-pebble-');
    const work = stack.work;
    const { server } = await stack.start({ launch: startPebble });
    rootPem = await readText(server.rootPemPath);
    directoryUrl = server.directoryUrl;
    outDir = path.join(work, 'out');
    reloadLog = path.join(work, 'reloads.log');
    config = writeAgentConfig(path.join(work, 'agent.yaml'), {
      ca: { directories: [server.directoryUrl], caFile: server.rootPemPath },
      account: { keyFile: path.join(work, 'account.key'), contact: ['mailto:ops@agent.test'] },
      challenge: { http01: { listen: `127.0.0.1:${stack.http01Port}` } },
      stateDir: path.join(work, 'state'),
      timing: { pollInterval: '100ms' },
      certificates: [{ id: 'web', names: ['pebble.agent.test', 'www.pebble.agent.test'], output: { dir: outDir }, reload: { command: `echo "$ANVIL_CERT_VERSION" >> '${reloadLog}'` } }],
    });
  }, { timeout: 60_000 });

  after(() => stack?.close());

  it('Pebble offers no ARI', async () => {
    const dir = JSON.parse((await httpsGet(directoryUrl, rootPem)).body) as Record<string, unknown>;
    assert.equal(dir.renewalInfo, undefined);
  });

  it('--once issues; the files verify with openssl; the reload ran once', async () => {
    const r = await agent('--once');
    assert.equal(r.code, 0, describeRun(r));
    const installed = readInstalled(outDir);
    assert.ok(keyMatchesCert(installed.keyPem, installed.certPem));
    const verify = await opensslVerify(rootPem, installed.chainPem, installed.certPem);
    assert.ok(verify.ok, verify.output);
    assert.deepEqual(reloads(), [installed.version]);
  });

  it('without ARI the renewal is due at ⅔ of the lifetime minus up to 1/20 of it', async () => {
    const r = await agent('status', '--json');
    assert.equal(r.code, 0, describeRun(r));
    const [s] = JSON.parse(r.stdout) as { notAfter: number; windowStart: number; nextRenewal: number }[];
    const cert = readInstalled(outDir).certPem;
    const { X509Certificate } = await import('node:crypto');
    const x = new X509Certificate(cert);
    const nb = Date.parse(x.validFrom);
    const lifetime = Date.parse(x.validTo) - nb;
    const fraction = (s!.nextRenewal - nb) / lifetime;
    assert.ok(fraction <= 2 / 3 + 1e-6 && fraction >= 2 / 3 - 1 / 20 - 1e-6, `renewal at ${fraction.toFixed(4)} of the lifetime`);
  });

  it('a second pass renews nothing; --force renews with a new key, keeps the previous version, reloads once more', async () => {
    const first = readInstalled(outDir);
    const again = await agent('--once');
    assert.equal(again.code, 0, describeRun(again));
    assert.equal(readInstalled(outDir).version, first.version, 'not due: nothing renewed');
    assert.equal(reloads().length, 1);
    const forced = await agent('--once', '--force');
    assert.equal(forced.code, 0, describeRun(forced));
    const second = readInstalled(outDir);
    assert.notEqual(second.version, first.version);
    assert.notEqual(second.keyPem, first.keyPem, 'a new key per renewal');
    assert.deepEqual(reloads(), [first.version, second.version]);
    assert.deepEqual(readdirSync(path.join(outDir, 'versions')).sort(), [first.version, second.version].sort(), 'the previous version stays for the grace window');
    const verify = await opensslVerify(rootPem, second.chainPem, second.certPem);
    assert.ok(verify.ok, verify.output);
  });
});
