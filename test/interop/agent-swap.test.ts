/**
 * Interop: atomic swap. `anvil agent` (a real process) renews against a real Anvil server with a
 * profile whose ARI window is already past at issuance, so every certificate is replaced at once:
 * 50 renewals in a row. Meanwhile a reader process loops over the files (resolving `current` once
 * per read, as a service reloading does, and the combined PEM) and must never see a key that does
 * not match its certificate. The reload command must run exactly once per installed version.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { agentProfilesDir, keyMatchesCert, readInstalled, startAgentProcess, writeAgentConfig, type AgentProcess } from '../helpers/agent-kit.js';
import { opensslVerify, requireTool, run, waitFor } from './harness.js';
import { openStack, type InteropStack } from './stack.js';

const skip = requireTool('openssl');
const RENEWALS = 50;

const READER = `
const { readFileSync, realpathSync, existsSync } = require('node:fs');
const { X509Certificate, createPublicKey } = require('node:crypto');
const [dir, stopFile] = process.argv.slice(1);
const spki = (k) => Buffer.from(createPublicKey(k).export({ type: 'spki', format: 'der' }));
const certSpki = (c) => Buffer.from(new X509Certificate(c).publicKey.export({ type: 'spki', format: 'der' }));
const pause = new Int32Array(new SharedArrayBuffer(4));
let reads = 0, mismatches = 0, combinedReads = 0, errors = [], versions = new Set();
while (!existsSync(stopFile)) {
  try {
    const real = realpathSync(dir + '/current');
    const key = readFileSync(real + '/key.pem', 'utf8');
    const cert = readFileSync(real + '/cert.pem', 'utf8');
    reads++; versions.add(real);
    if (!spki(key).equals(certSpki(cert))) mismatches++;
    const combined = readFileSync(dir + '/combined.pem', 'utf8');
    const keyPart = combined.slice(0, combined.indexOf('-----BEGIN CERTIFICATE-----'));
    const certPart = combined.slice(combined.indexOf('-----BEGIN CERTIFICATE-----'));
    combinedReads++;
    if (!spki(keyPart).equals(certSpki(certPart))) mismatches++;
  } catch (e) { if (errors.length < 5) errors.push(String(e.message)); else errors.push('…'); }
  Atomics.wait(pause, 0, 0, 2); // 2 ms between reads: thousands of reads without taking a core from the agent
}
process.stdout.write(JSON.stringify({ reads, combinedReads, mismatches, errors: errors.length, firstErrors: errors.slice(0, 5), versions: versions.size }));
`;

describe('agent atomic swap: 50 renewals under a reader loop', { skip, timeout: 180_000 }, () => {
  let stack: InteropStack | undefined;
  let agent: AgentProcess | undefined;
  let outDir = '';
  let reloadLog = '';
  let rootPem = '';
  let reader: { reads: number; combinedReads: number; mismatches: number; errors: number; firstErrors: string[]; versions: number } | undefined;

  before(async () => {
    stack = await openStack('anvil-agent-swap-');
    const work = stack.work;
    const started = await stack.start({ extraArgs: ['--profiles-dir', agentProfilesDir(work), '--log-level', 'warn'] });
    rootPem = started.rootPem;
    outDir = path.join(work, 'out');
    reloadLog = path.join(work, 'reloads.log');
    const config = writeAgentConfig(path.join(work, 'agent.yaml'), {
      ca: { directories: [started.server.directoryUrl], caFile: started.server.rootPemPath },
      account: { keyFile: path.join(work, 'account.key') },
      challenge: { http01: { listen: `127.0.0.1:${stack.http01Port}` } },
      stateDir: path.join(work, 'state'),
      timing: { pollInterval: '50ms', backoffInitial: '1s' },
      certificates: [
        {
          id: 'web',
          names: ['swap.agent.test'],
          profile: 'agent-swap',
          output: { dir: outDir, combined: 'combined.pem', grace: '1h' },
          reload: { command: `echo "$ANVIL_CERT_VERSION" >> '${reloadLog}'`, timeout: '5s' },
        },
      ],
    });
    agent = startAgentProcess(['--config', config]);
    stack.onClose(() => agent?.stop());
    await waitFor('the first certificate', () => existsSync(path.join(outDir, 'current')), 20_000, 50).catch((error: Error) => {
      throw new Error(`${error.message}\n--- agent output (tail) ---\n${agent!.output().slice(-6000)}`);
    });

    const stopFile = path.join(work, 'stop-reader');
    const child = spawn(process.execPath, ['-e', READER, outDir, stopFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    stack.onClose(() => child.kill('SIGKILL'));
    const lines = (): number => (existsSync(reloadLog) ? readFileSync(reloadLog, 'utf8').trim().split('\n').filter(Boolean).length : 0);
    const startLines = lines();
    await waitFor(`${RENEWALS} renewals`, () => lines() >= startLines + RENEWALS, 110_000, 100).catch((error: Error) => {
      throw new Error(`${error.message} (${lines()} reloads)\n--- agent output (tail) ---\n${agent!.output().slice(-6000)}`);
    });
    writeFileSync(stopFile, '');
    await done;
    reader = JSON.parse(out);
    await agent.stop();
  }, { timeout: 170_000 });

  after(() => stack?.close());

  it('a reader never sees a key that does not match its certificate, and reads every time', (t) => {
    assert.ok(reader, 'the reader ran');
    t.diagnostic(JSON.stringify(reader));
    assert.equal(reader.mismatches, 0, JSON.stringify(reader));
    assert.equal(reader.errors, 0, `no read failed (the grace window keeps resolved versions): ${JSON.stringify(reader)}`);
    assert.ok(reader.reads > RENEWALS, `the reader read throughout: ${JSON.stringify(reader)}`);
    assert.ok(reader.versions >= RENEWALS / 2, `the reader saw many versions: ${JSON.stringify(reader)}`);
  });

  it('the reload command ran exactly once per installed version', () => {
    const logged = readFileSync(reloadLog, 'utf8').trim().split('\n');
    const versions = readdirSync(path.join(outDir, 'versions')).filter((v) => !v.startsWith('.'));
    assert.ok(versions.length >= RENEWALS + 1, `${versions.length} versions kept inside the grace window`);
    assert.deepEqual([...logged].sort(), [...versions].sort(), 'one reload line per version, no version twice, none missing');
    assert.equal(new Set(logged).size, logged.length, 'no version reloaded twice');
  });

  it('the installed files verify with openssl and the stable paths follow current', async () => {
    const installed = readInstalled(outDir);
    assert.ok(keyMatchesCert(installed.keyPem, installed.certPem));
    const verify = await opensslVerify(rootPem, installed.chainPem, installed.certPem);
    assert.ok(verify.ok, verify.output);
    assert.equal(readFileSync(path.join(outDir, 'cert.pem'), 'utf8'), installed.certPem, 'cert.pem -> current/cert.pem');
    const mode = await run('stat', ['-c', '%a', path.join(outDir, 'current', 'key.pem')]);
    assert.equal(mode.stdout.trim(), '600', 'the key is private');
  });
});
