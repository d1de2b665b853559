/**
 * Harness for the interop tests: starts the built Anvil server (or, for comparison while
 * developing, Pebble), runs real ACME clients as child processes with bounded timeouts, and
 * judges the issued certificates with openssl.
 *
 * Every wait in here is bounded; every failure message carries the output of the process
 * that failed, so a red test explains itself.
 *
 * Knobs (environment): CI=true turns a missing tool into a failure instead of a skip;
 * ANVIL_INTEROP_KEEP=1 keeps the tests' temp dirs (client state, server data dir, logs);
 * ANVIL_INTEROP_PEER=pebble runs the same tests against Pebble, to tell a client quirk from a
 * server bug.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { accessSync, constants as fsConstants, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package name in the repository root's package.json; how the root is recognised. */
const PACKAGE_NAME = 'anvil-ca';
/** Cap on captured server output (the tail is kept). */
const MAX_LOG_CHARS = 4 * 1024 * 1024;

/** The repository root: the nearest ancestor of this file holding Anvil's package.json (works from `dist/test/interop` and from `test/interop`). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (existsSync(candidate)) {
      try {
        const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown };
        if (pkg.name === PACKAGE_NAME) return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the repository root (package.json named ${PACKAGE_NAME}) above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** The built server's entry point, `<repo>/dist/src/cli/main.js`. */
export function serverEntry(): string {
  return path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
}

/** Ports this process has handed out: the kernel may offer a just-released one again. */
const handedOut = new Set<number>();

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, release it), and not
 * one this process handed out before, so servers started together never get the same one.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = await probePort();
    if (!handedOut.has(port) || attempt >= 20) {
      handedOut.add(port);
      return port;
    }
  }
}

function probePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the port of a port-0 listener'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** A fresh directory under os.tmpdir(); the caller removes it (see removeDir). */
export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix.endsWith('-') ? prefix : `${prefix}-`));
}

/** Removes a directory tree, ignoring one that is already gone; `ANVIL_INTEROP_KEEP=1` keeps it for debugging. */
export async function removeDir(dir: string | undefined): Promise<void> {
  if (!dir) return;
  if (process.env.ANVIL_INTEROP_KEEP === '1') {
    process.stderr.write(`# ANVIL_INTEROP_KEEP=1: keeping ${dir}\n`);
    return;
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Runs every cleanup step even when one fails, then reports all failures together. */
export async function cleanUp(what: string, steps: (() => unknown)[]): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, `${what} cleanup failed`);
}

/** Where `name` is found on PATH, or undefined. */
export function findExecutable(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Checks that an external tool is installed. Returns `false` when it is (so `{ skip: requireTool('x') }`
 * runs the test) and a skip reason when it is not. With `CI=true` a missing tool is an error instead:
 * CI must never pass by skipping.
 */
export function requireTool(name: string): false | string {
  if (findExecutable(name) !== undefined) return false;
  const message = `required tool "${name}" is not installed (not found on PATH)`;
  if (process.env.CI === 'true') throw new Error(`${message}; CI=true, so this is a failure, not a skip`);
  return `${message}; skipping (set CI=true to make this a failure)`;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  /** Kill the child (and its process group) after this long; default 120 s. */
  timeoutMs?: number;
  cwd?: string;
  input?: string;
}

export interface RunResult {
  /** Exit code; null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** `cmd args…`, for messages. */
  commandLine: string;
}

/**
 * Runs a command to completion with a bounded timeout. The child gets its own process group so
 * a timeout kills everything it started. `env` is merged over process.env (undefined removes a key).
 */
export async function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const env = mergeEnv(process.env, options.env ?? {});
  const commandLine = [cmd, ...args].map(shellQuote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    if (options.input !== undefined) child.stdin?.end(options.input);
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${commandLine}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, commandLine });
    });
  });
}

/** A multi-line description of a finished command, for assertion messages. */
export function describeRun(result: RunResult): string {
  const status = result.timedOut ? 'TIMED OUT' : `exit ${result.code ?? `signal ${result.signal}`}`;
  return `$ ${result.commandLine}\n(${status})\n--- stdout ---\n${tail(result.stdout)}\n--- stderr ---\n${tail(result.stderr)}`;
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function mergeEnv(base: NodeJS.ProcessEnv, overrides: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function tail(text: string, max = 20_000): string {
  return text.length <= max ? text : `…(${text.length - max} chars cut)…\n${text.slice(-max)}`;
}

// ---------------------------------------------------------------------------------------------
// PEM and openssl helpers
// ---------------------------------------------------------------------------------------------

/** The certificates of a PEM chain, in order, each as its own PEM block ending in a newline. */
export function splitPemChain(pem: string): string[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((block) => `${block}\n`);
}

/** The serial number of a PEM certificate, upper-case hex without separators. */
export function certSerial(pem: string): string {
  return new X509Certificate(pem).serialNumber.toUpperCase();
}

export interface VerifyResult {
  ok: boolean;
  output: string;
}

export interface VerifyOptions {
  /** Add `-x509_strict` (RFC 5280 profile checks). */
  strict?: boolean;
  /** Add `-purpose <p>`, e.g. `sslserver`. */
  purpose?: string;
}

/**
 * `openssl verify -CAfile root -untrusted intermediates leaf`. Each argument is a file path or PEM
 * text (PEM is written to a temp file). `ok` is true when openssl exits 0 and prints `<leaf>: OK`.
 */
export async function opensslVerify(rootPem: string, chainOrIntermediatePem: string, leafPem: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const dir = await tempDir('anvil-verify-');
  try {
    const root = await asFile(dir, 'root.pem', rootPem);
    const untrusted = await asFile(dir, 'untrusted.pem', chainOrIntermediatePem);
    const leaf = await asFile(dir, 'leaf.pem', leafPem);
    const args = ['verify', '-CAfile', root, '-untrusted', untrusted];
    if (options.strict) args.push('-x509_strict');
    if (options.purpose) args.push('-purpose', options.purpose);
    args.push(leaf);
    const result = await run('openssl', args, { timeoutMs: 20_000 });
    const ok = result.code === 0 && result.stdout.includes(`${leaf}: OK`);
    return { ok, output: describeRun(result) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The DNS names in a certificate's subjectAltName, as `openssl x509 -noout -ext subjectAltName` prints them, sorted. */
export async function opensslSans(certPemOrPath: string): Promise<string[]> {
  const dir = await tempDir('anvil-san-');
  try {
    const file = await asFile(dir, 'cert.pem', certPemOrPath);
    const result = await run('openssl', ['x509', '-noout', '-ext', 'subjectAltName', '-in', file], { timeoutMs: 20_000 });
    if (result.code !== 0) throw new Error(`openssl could not read the subjectAltName\n${describeRun(result)}`);
    // Output: "X509v3 Subject Alternative Name: \n    DNS:a.test, DNS:b.test"
    const lines = result.stdout.split('\n').slice(1).join(' ');
    return lines
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry.length > 0)
      .sort();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function asFile(dir: string, name: string, pemOrPath: string): Promise<string> {
  if (!pemOrPath.includes('-----BEGIN')) return pemOrPath;
  const file = path.join(dir, name);
  await writeFile(file, pemOrPath);
  return file;
}

// ---------------------------------------------------------------------------------------------
// HTTPS probe
// ---------------------------------------------------------------------------------------------

/** GETs a URL trusting only `ca`; resolves with status and body, rejects on network or TLS errors. */
export async function httpsGet(url: string, ca: string, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { ca, timeout: timeoutMs, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    request.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Server processes
// ---------------------------------------------------------------------------------------------

/** A running ACME server under test. */
export interface AcmeServer {
  /** What is running: Anvil in the committed tests; Pebble only when asked for (see startServer). */
  readonly kind: 'anvil' | 'pebble';
  readonly directoryUrl: string;
  /** `https://127.0.0.1:<port>`. */
  readonly baseUrl: string;
  readonly dataDir: string;
  /** PEM file to trust: for TLS to the server and as `-CAfile` for `openssl verify` of issued certificates. */
  readonly rootPemPath: string;
  readonly pid: number;
  /** Everything the server wrote to stdout and stderr so far (the last 4 MB). */
  logs(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then wait for exit (SIGKILL after 10 s, and then reject: a server must stop on SIGTERM). */
  stop(): Promise<void>;
  /** Sends `signal` and waits (bounded) for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface StartAnvilOptions {
  /** `127.0.0.1:<port>` of the test DNS server, passed as --dns-resolvers; '' for none (the system name service). */
  dnsResolver: string;
  /** Where the http-01 validator connects, passed as --http01-port. */
  http01Port: number;
  extraArgs?: string[];
  env?: Record<string, string>;
  /** Data directory; when omitted a temp dir is made and removed again by stop()/kill(). */
  dataDir?: string;
  /** Bound on startup; default 20 s. */
  readyTimeoutMs?: number;
  /** Listen on this port instead of a free one (to restart a server at the same URL). */
  port?: number;
}

/**
 * Starts `node dist/src/cli/main.js serve` on a free port and waits until GET /directory answers
 * 200 over TLS trusting `<dataDir>/root.pem`. On failure the process is killed and the error
 * carries its output.
 */
export async function startAnvil(opts: StartAnvilOptions): Promise<AcmeServer> {
  const entry = serverEntry();
  if (!existsSync(entry)) throw new Error(`the server is not built: ${entry} is missing (run npm run build)`);
  const ownsDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await tempDir('anvil-interop-data-'));
  await mkdir(dataDir, { recursive: true });
  const port = opts.port ?? (await freePort());
  const baseUrl = `https://127.0.0.1:${port}`;
  const args = [
    entry,
    'serve',
    '--listen',
    `127.0.0.1:${port}`,
    '--data-dir',
    dataDir,
    '--http01-port',
    String(opts.http01Port),
    // '' leaves the validator on the system name service (the default without --dns-resolvers).
    ...(opts.dnsResolver === '' ? [] : ['--dns-resolvers', opts.dnsResolver]),
    '--log-level',
    'info',
    ...(opts.extraArgs ?? []),
  ];
  // Inherited ANVIL_* variables from the developer's shell must not change what is tested.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('ANVIL_') && key !== 'NODE_TEST_CONTEXT' && key !== 'NODE_OPTIONS'));
  // Several servers run at once: the admin and revocation listeners take free ports unless a test names them.
  // One serving process unless a test asks for more (`--workers auto` would fork one per core for every server).
  const env = { ...inherited, ANVIL_KEY_PASSPHRASE: 'interop-test-passphrase', ANVIL_ADMIN_LISTEN: '127.0.0.1:0', ANVIL_REVOCATION_LISTEN: '127.0.0.1:0', ANVIL_WORKERS: '1', ...(opts.env ?? {}) };
  return launch({
    kind: 'anvil',
    command: process.execPath,
    args,
    env,
    cwd: dataDir,
    baseUrl,
    directoryUrl: `${baseUrl}/directory`,
    dataDir,
    rootPemPath: path.join(dataDir, 'root.pem'),
    // Generous: a CI machine with 2 cores runs four test files at once.
    readyTimeoutMs: opts.readyTimeoutMs ?? 45_000,
    cleanup: ownsDataDir ? () => removeDir(dataDir) : async () => undefined,
  });
}

interface LaunchSpec {
  kind: AcmeServer['kind'];
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  baseUrl: string;
  directoryUrl: string;
  dataDir: string;
  rootPemPath: string;
  readyTimeoutMs: number;
  /** Extra readiness work once the directory answers (Pebble: build the trust bundle). */
  afterReady?: () => Promise<void>;
  /** Trust for the readiness probe when it is not rootPemPath (Pebble: the TLS root). */
  probeCaPath?: string;
  cleanup: () => Promise<void>;
}

/** Servers still running; killed if the test process exits without stopping them (a crash or a runner timeout). */
const running = new Set<{ kill(signal: NodeJS.Signals): boolean }>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function launch(spec: LaunchSpec): Promise<AcmeServer> {
  const child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  const append = (chunk: string): void => {
    output += chunk;
    if (output.length > MAX_LOG_CHARS) output = output.slice(-MAX_LOG_CHARS);
  };
  child.stdout.setEncoding('utf8').on('data', append);
  child.stderr.setEncoding('utf8').on('data', append);
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (error) => {
      spawnError = error;
      exitInfo = { code: null, signal: null };
      resolve(exitInfo);
    });
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });
  let cleaned = false;
  const cleanupOnce = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    await spec.cleanup();
  };
  const waitExit = async (ms: number): Promise<boolean> => {
    if (exitInfo) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const done = await Promise.race([exited.then(() => true as const), timeout]);
    clearTimeout(timer);
    return done;
  };
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (!exitInfo) {
      child.kill(signal);
      if (!(await waitExit(10_000))) {
        child.kill('SIGKILL');
        await waitExit(5_000);
      }
    }
    await cleanupOnce();
  };
  const stop = async (): Promise<void> => {
    if (!exitInfo) {
      child.kill('SIGTERM');
      if (!(await waitExit(10_000))) {
        child.kill('SIGKILL');
        await waitExit(5_000);
        await cleanupOnce();
        throw new Error(`${spec.kind} (pid ${child.pid}) did not exit within 10 s of SIGTERM; killed it\n--- server output ---\n${tail(output)}`);
      }
    }
    await cleanupOnce();
  };
  const server: AcmeServer = {
    kind: spec.kind,
    directoryUrl: spec.directoryUrl,
    baseUrl: spec.baseUrl,
    dataDir: spec.dataDir,
    rootPemPath: spec.rootPemPath,
    pid: child.pid ?? -1,
    logs: () => output,
    exited,
    stop,
    kill,
  };

  const deadline = Date.now() + spec.readyTimeoutMs;
  let lastProblem = 'no attempt yet';
  for (;;) {
    if (spawnError) {
      await cleanupOnce();
      throw new Error(`cannot start ${spec.kind}: ${spawnError.message}`);
    }
    if (exitInfo) {
      await cleanupOnce();
      throw new Error(`${spec.kind} exited during startup (code ${exitInfo.code}, signal ${exitInfo.signal})\n$ ${spec.command} ${spec.args.join(' ')}\n--- server output ---\n${tail(output)}`);
    }
    if (Date.now() > deadline) break;
    const caPath = spec.probeCaPath ?? spec.rootPemPath;
    if (existsSync(caPath)) {
      try {
        const ca = await readFile(caPath, 'utf8');
        const response = await httpsGet(spec.directoryUrl, ca);
        if (response.status === 200) {
          if (spec.afterReady) await spec.afterReady();
          return server;
        }
        lastProblem = `GET ${spec.directoryUrl} answered ${response.status}: ${response.body.slice(0, 500)}`;
      } catch (error) {
        lastProblem = `GET ${spec.directoryUrl} failed: ${(error as Error).message}`;
      }
    } else {
      lastProblem = `${caPath} does not exist yet`;
    }
    await sleep(100);
  }
  await kill('SIGKILL');
  throw new Error(`${spec.kind} was not ready within ${spec.readyTimeoutMs} ms (last: ${lastProblem})\n$ ${spec.command} ${spec.args.join(' ')}\n--- server output ---\n${tail(output)}`);
}

// ---------------------------------------------------------------------------------------------
// Pebble, the reference peer (development and comparison only)
// ---------------------------------------------------------------------------------------------

/**
 * Starts Pebble with a throwaway TLS root (made with openssl) and the same knobs as startAnvil.
 * `rootPemPath` is a bundle of the TLS root and Pebble's issuing root, so it serves both purposes
 * exactly as Anvil's root.pem does. For comparing client behaviour; the committed tests target Anvil.
 */
export async function startPebble(opts: StartAnvilOptions): Promise<AcmeServer> {
  const dir = opts.dataDir ?? (await tempDir('anvil-interop-pebble-'));
  await mkdir(dir, { recursive: true });
  const tlsRoot = path.join(dir, 'tls-root.pem');
  await makeTlsCertificate(dir, tlsRoot, path.join(dir, 'cert.pem'), path.join(dir, 'key.pem'));
  const port = await freePort();
  const managementPort = await freePort();
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: path.join(dir, 'cert.pem'),
      privateKey: path.join(dir, 'key.pem'),
      httpPort: opts.http01Port,
      tlsPort: await freePort(),
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
    },
  };
  const configPath = path.join(dir, 'pebble.json');
  await writeFile(configPath, JSON.stringify(config));
  const rootPemPath = path.join(dir, 'root.pem');
  const baseUrl = `https://127.0.0.1:${port}`;
  return launch({
    kind: 'pebble',
    command: 'pebble',
    args: ['-config', configPath, '-dnsserver', opts.dnsResolver, '-strict=false', ...(opts.extraArgs ?? [])],
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', ...(opts.env ?? {}) },
    cwd: dir,
    baseUrl,
    directoryUrl: `${baseUrl}/dir`,
    dataDir: dir,
    rootPemPath,
    readyTimeoutMs: opts.readyTimeoutMs ?? 20_000,
    probeCaPath: tlsRoot,
    afterReady: async () => {
      const ca = await readFile(tlsRoot, 'utf8');
      const issuing = await httpsGet(`https://127.0.0.1:${managementPort}/roots/0`, ca);
      if (issuing.status !== 200) throw new Error(`pebble /roots/0 answered ${issuing.status}`);
      await writeFile(rootPemPath, `${ca.trimEnd()}\n${issuing.body.trimEnd()}\n`);
    },
    cleanup: opts.dataDir === undefined ? () => removeDir(dir) : async () => undefined,
  });
}

/** A throwaway root and a TLS server certificate for 127.0.0.1/localhost signed by it. */
async function makeTlsCertificate(dir: string, rootPath: string, certPath: string, keyPath: string): Promise<void> {
  const rootKey = path.join(dir, 'tls-root.key');
  const csr = path.join(dir, 'tls.csr');
  const ext = path.join(dir, 'tls.ext');
  await writeFile(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n');
  const steps: string[][] = [
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', rootKey, '-out', rootPath, '-days', '2', '-subj', '/CN=interop TLS root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-out', csr, '-subj', '/CN=127.0.0.1'],
    ['x509', '-req', '-in', csr, '-CA', rootPath, '-CAkey', rootKey, '-CAcreateserial', '-days', '2', '-out', certPath, '-extfile', ext],
  ];
  for (const args of steps) {
    const result = await run('openssl', args, { timeoutMs: 20_000, cwd: dir });
    if (result.code !== 0) throw new Error(`openssl failed while making Pebble's TLS certificate\n${describeRun(result)}`);
  }
}

/**
 * Starts the server under test: Anvil, unless `ANVIL_INTEROP_PEER=pebble` asks for Pebble to
 * compare a client's behaviour against the reference implementation.
 */
export async function startServer(opts: StartAnvilOptions): Promise<AcmeServer> {
  return process.env.ANVIL_INTEROP_PEER === 'pebble' ? startPebble(opts) : startAnvil(opts);
}

/** Bounded wait for a condition, polling every `intervalMs`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() <= deadline) {
    if (await condition()) return;
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Reads a file that must exist, with the path in the error. */
export async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as Error).message}`);
  }
}

/** An assertion message: what a client printed, plus the tail of the server's log. */
export function failureReport(result: RunResult, server: AcmeServer, extra = ''): string {
  return `${describeRun(result)}${extra ? `\n${extra}` : ''}\n--- ${server.kind} output (tail) ---\n${tail(server.logs(), 10_000)}`;
}

/** The last `max` characters of a text file, or a note that it cannot be read (for failure messages). */
export async function fileTail(file: string, max = 15_000): Promise<string> {
  try {
    return `--- ${file} (tail) ---\n${tail(await readFile(file, 'utf8'), max)}`;
  } catch (error) {
    return `--- ${file}: ${(error as Error).message} ---`;
  }
}
