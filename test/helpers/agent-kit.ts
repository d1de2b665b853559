/**
 * What the agent tests share: short-lived profiles (so renewals happen in seconds), an agent
 * configuration writer, the agent CLI as a child process, and readers of the installed files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { serverEntry } from '../interop/harness.js';
import { bundledProfilesDir } from './profile-dir.js';
import { cpSync } from 'node:fs';

/** A one-minute certificate whose ARI window is already past at issuance: every check renews at once. */
export const SWAP_PROFILE = { description: 'agent test: renew at once', validity: '1m', backdate: '0', renewalWindow: { start: 0.0001, end: 0.0002 }, revocationInfo: { ocsp: false, crl: false } };
/** A two-minute certificate renewed 36–66 s after issuance. */
export const HERD_PROFILE = { description: 'agent test: herd', validity: '2m', backdate: '0', renewalWindow: { start: 0.3, end: 0.55 }, revocationInfo: { ocsp: false, crl: false } };
/**
 * The herd's fast rounds: a one-minute certificate renewed 9–21 s after issuance. The window
 * opens late enough that an agent on a loaded runner has fetched ARI before it begins (with a
 * 4.8 s start, 18 % of draws on a slow machine came after the window had opened).
 */
export const HERD_FAST_PROFILE = { description: 'agent test: herd, fast rounds', validity: '1m', backdate: '0', renewalWindow: { start: 0.15, end: 0.35 }, revocationInfo: { ocsp: false, crl: false } };
/** The herd's ARI-cadence group: a two-minute certificate renewed 72–108 s after issuance, past Anvil's 60 s Retry-After. */
export const HERD_LATE_PROFILE = { description: 'agent test: herd, late window', validity: '2m', backdate: '0', renewalWindow: { start: 0.6, end: 0.9 }, revocationInfo: { ocsp: false, crl: false } };
/** A one-minute certificate renewed 6–12 s after issuance. */
export const SHORT_PROFILE = { description: 'agent test: short window', validity: '1m', backdate: '0', renewalWindow: { start: 0.1, end: 0.2 }, revocationInfo: { ocsp: false, crl: false } };

/** A profiles dir under `work`: the shipped profiles plus the agent test profiles. */
export function agentProfilesDir(work: string): string {
  const dir = join(work, 'profiles');
  cpSync(bundledProfilesDir(), dir, { recursive: true });
  for (const [name, p] of Object.entries({ 'agent-swap': SWAP_PROFILE, 'agent-herd': HERD_PROFILE, 'agent-herd-fast': HERD_FAST_PROFILE, 'agent-herd-late': HERD_LATE_PROFILE, 'agent-short': SHORT_PROFILE })) {
    writeFileSync(join(dir, `${name}.yaml`), stringifyYaml(p));
  }
  return dir;
}

/** Writes an agent YAML config; returns its path. */
export function writeAgentConfig(file: string, config: Record<string, unknown>): string {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, stringifyYaml(config));
  return file;
}

/** The agent CLI as a running child process, its output kept. */
export interface AgentProcess {
  child: ChildProcess;
  output(): string;
  /** JSON log lines parsed so far. */
  events(): Record<string, unknown>[];
  stop(): Promise<number | null>;
}

/** Starts `anvil agent <args>`. */
export function startAgentProcess(args: string[], env: Record<string, string> = {}): AgentProcess {
  const child = spawn(process.execPath, [serverEntry(), 'agent', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out = (out + c).slice(-4_000_000)));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out = (out + c).slice(-4_000_000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  process.once('exit', () => child.kill('SIGKILL'));
  return {
    child,
    output: () => out,
    events: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return {};
          }
        }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Reads the installed version the way a service should: resolve `current` once, then read both files. */
export function readInstalled(dir: string): { version: string; certPem: string; keyPem: string; chainPem: string; fullchainPem: string } {
  const real = realpathSync(join(dir, 'current'));
  return {
    version: real.split('/').pop()!,
    certPem: readFileSync(join(real, 'cert.pem'), 'utf8'),
    keyPem: readFileSync(join(real, 'key.pem'), 'utf8'),
    chainPem: readFileSync(join(real, 'chain.pem'), 'utf8'),
    fullchainPem: readFileSync(join(real, 'fullchain.pem'), 'utf8'),
  };
}

/** True when the private key belongs to the certificate. */
export function keyMatchesCert(keyPem: string, certPem: string): boolean {
  const a = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  const b = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return Buffer.from(a).equals(Buffer.from(b));
}

/** Prometheus text → value of the first sample matching name and labels. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries((m[3] ?? '').split(',').filter(Boolean).map((kv) => { const [k, v] = kv.split('='); return [k, v!.replace(/^"|"$/g, '')]; }));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return undefined;
}
