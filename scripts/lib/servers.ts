/**
 * Starts the ACME servers the benchmark and crash tests drive (Anvil and Pebble) on 127.0.0.1,
 * waits until their directory answers, and samples their CPU time and memory from /proc.
 * Every child is killed when this process exits, whatever the reason.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/** A server this process started. */
export interface RunningServer {
  readonly name: string;
  readonly directoryUrl: string;
  /** The root that signed the server's TLS certificate. */
  readonly caPem: string;
  readonly pid: number;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last output of the process (stdout and stderr interleaved). */
  output(): string;
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after a grace period; removes temporary files it created. */
  stop(): Promise<void>;
}

export interface AnvilServer extends RunningServer {
  readonly dataDir: string;
}

const children = new Set<ChildProcess>();
/** Temporary directories to remove if the process exits before stop() ran. */
const tempDirs = new Set<string>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Kills every child still running (for signal handlers; `exit` does it too). */
export function killAllChildren(): void {
  for (const child of children) child.kill('SIGKILL');
}

/**
 * Runs a benchmark's main: its exit code becomes the process's; a signal or an error kills every
 * child (and whatever `alsoKill` names) so no server outlives the benchmark.
 */
export function runBenchmark(main: () => Promise<number>, alsoKill: () => void = () => undefined): void {
  const stop = (code: number): never => {
    alsoKill();
    killAllChildren();
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stop(130));
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      stop(2);
    },
  );
}

/** The repository root: the nearest ancestor of this file that holds package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('package.json not found above scripts/lib');
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface AnvilOptions {
  http01Port: number;
  dnsResolver: string;
  /** Reuse a data dir (restart); a fresh temporary one otherwise, removed by stop(). */
  dataDir?: string;
  passphrase?: string;
  port?: number;
  logLevel?: string;
  /** Extra node flags for the server process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
  nodeArgs?: string[];
  readyTimeoutMs?: number;
  /** More `serve` flags, and environment for the server process. */
  extraArgs?: string[];
  env?: Record<string, string>;
}

/** Starts `node dist/src/cli/main.js serve`; the spawned node process is the server (its pid is sampled). */
export async function startAnvil(options: AnvilOptions): Promise<AnvilServer> {
  const root = repoRoot();
  const main = join(root, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} not found: run npm run build`);
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? makeTempDir('anvil-bench-');
  const port = options.port ?? (await freePort());
  const args = [
    ...(options.nodeArgs ?? []),
    main, 'serve',
    '--listen', `127.0.0.1:${port}`,
    '--data-dir', dataDir,
    '--http01-port', String(options.http01Port),
    '--dns-resolvers', options.dnsResolver,
    '--log-level', options.logLevel ?? 'warn',
    ...(options.extraArgs ?? []),
  ];
  // One serving process (its pid is the one sampled) unless the caller passes --workers.
  const env = { ...process.env, ANVIL_WORKERS: '1', ANVIL_KEY_PASSPHRASE: options.passphrase ?? 'anvil-bench-passphrase', ANVIL_ADMIN_LISTEN: '127.0.0.1:0', ANVIL_REVOCATION_LISTEN: process.env.ANVIL_REVOCATION_LISTEN ?? '127.0.0.1:0', ...options.env };
  const proc = launch('anvil', process.execPath, args, { cwd: root, env });
  const directoryUrl = `https://127.0.0.1:${port}/directory`;
  const rootPem = join(dataDir, 'root.pem');
  try {
    const caPem = await waitReady(proc, directoryUrl, () => (existsSync(rootPem) ? readFileSync(rootPem, 'utf8') : undefined), options.readyTimeoutMs ?? 60_000);
    return { ...serverHandle(proc, directoryUrl, caPem, () => (ownDir ? removeTempDir(dataDir) : undefined)), dataDir };
  } catch (error) {
    await stopProcess(proc);
    if (ownDir) removeTempDir(dataDir);
    throw error;
  }
}

export interface PebbleOptions {
  http01Port: number;
  dnsResolver: string;
  readyTimeoutMs?: number;
}

/**
 * Starts Pebble with a TLS certificate for 127.0.0.1 from a throwaway openssl root, no nonce
 * rejection and no validation sleep (the settings of INTEROP.md), validating http-01 on `http01Port`.
 */
export async function startPebble(options: PebbleOptions): Promise<RunningServer> {
  const dir = makeTempDir('pebble-bench-');
  try {
    const caPem = makeTlsCertificate(dir);
    const [port, management, tlsPort] = [await freePort(), await freePort(), await freePort()];
    const config = {
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${management}`,
        certificate: join(dir, 'cert.pem'),
        privateKey: join(dir, 'key.pem'),
        httpPort: options.http01Port,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    };
    writeFileSync(join(dir, 'pebble.json'), JSON.stringify(config));
    const env = { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' };
    const proc = launch('pebble', 'pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', options.dnsResolver, '-strict=false'], { cwd: dir, env });
    const directoryUrl = `https://127.0.0.1:${port}/dir`;
    try {
      await waitReady(proc, directoryUrl, () => caPem, options.readyTimeoutMs ?? 30_000);
    } catch (error) {
      await stopProcess(proc);
      throw error;
    }
    return serverHandle(proc, directoryUrl, caPem, () => removeTempDir(dir));
  } catch (error) {
    removeTempDir(dir);
    throw error;
  }
}

/** Writes root.pem, cert.pem and key.pem (P-256, SAN IP:127.0.0.1 and DNS:localhost) into `dir`; returns the root PEM. */
function makeTlsCertificate(dir: string): string {
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'root.key', '-out', 'root.pem', '-days', '2', '-subj', '/CN=bench throwaway root');
  openssl('req', ...ec, '-keyout', 'key.pem', '-out', 'tls.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'tls.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.cnf', '-out', 'cert.pem');
  return readFileSync(join(dir, 'root.pem'), 'utf8');
}

interface Launched {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

const OUTPUT_KEEP = 64 * 1024;

function launch(name: string, command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Launched {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const keep = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    if (output.length > 2 * OUTPUT_KEEP) output = output.slice(-OUTPUT_KEEP);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
    child.once('error', (error) => {
      children.delete(child);
      output += `\nspawn error: ${error.message}`;
      resolve({ code: null, signal: null });
    });
  });
  return { name, child, exited, output: () => output.slice(-OUTPUT_KEEP) };
}

/** Polls GET `directoryUrl` until 200, bounded by `timeoutMs`; fails early if the process exits. */
async function waitReady(proc: Launched, directoryUrl: string, ca: () => string | undefined, timeoutMs: number): Promise<string> {
  let exited: string | undefined;
  void proc.exited.then(({ code, signal }) => (exited = `exited with code ${code} signal ${signal}`));
  const deadline = Date.now() + timeoutMs;
  let last = 'not started';
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${proc.name} ${exited} before serving ${directoryUrl}\n${proc.output()}`);
    const caPem = ca();
    if (caPem?.includes('-----END CERTIFICATE-----')) {
      try {
        const status = await getStatus(directoryUrl, caPem);
        if (status === 200) return caPem;
        last = `HTTP ${status}`;
      } catch (error) {
        last = (error as Error).message;
      }
    } else {
      last = 'no CA certificate yet';
    }
    await sleep(100);
  }
  throw new Error(`${proc.name} did not serve ${directoryUrl} within ${timeoutMs} ms (last: ${last})\n${proc.output()}`);
}

function getStatus(url: string, caPem: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: caPem, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(2000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function stopProcess(proc: Launched, graceMs = 5000): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null || proc.child.pid === undefined) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

function serverHandle(proc: Launched, directoryUrl: string, caPem: string, cleanup: () => void): RunningServer {
  let stopping: Promise<void> | undefined;
  return {
    name: proc.name,
    directoryUrl,
    caPem,
    pid: proc.child.pid!,
    exited: proc.exited,
    output: proc.output,
    kill: (signal) => void proc.child.kill(signal),
    stop: () =>
      (stopping ??= stopProcess(proc).then(() => {
        cleanup();
      })),
  };
}

/** CPU time and memory of one process, from /proc. */
export interface ProcessSample {
  /** utime + stime, in milliseconds. */
  readonly cpuMs: number;
  readonly rssKb: number;
  /** Peak resident set size (VmHWM). */
  readonly peakRssKb: number;
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number.parseInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim(), 10) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Reads /proc/<pid>/stat (utime, stime) and /proc/<pid>/status (VmRSS, VmHWM); undefined once the process is gone. */
export function sampleProcess(pid: number): ProcessSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name "(...)": state is field 3, utime 14, stime 15 (proc(5)).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { cpuMs: (ticks * 1000) / ticksPerSecond(), rssKb: kb('VmRSS'), peakRssKb: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** A process and its children (cluster workers) summed: CPU time and resident memory. */
export function sampleTree(pid: number): ProcessSample | undefined {
  const own = sampleProcess(pid);
  if (!own) return undefined;
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    children = [];
  }
  return children.reduce<ProcessSample>((sum, child) => {
    const c = sampleTree(child);
    return c ? { cpuMs: sum.cpuMs + c.cpuMs, rssKb: sum.rssKb + c.rssKb, peakRssKb: sum.peakRssKb + c.peakRssKb } : sum;
  }, own);
}
