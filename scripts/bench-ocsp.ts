/**
 * OCSP responder benchmark: Anvil's responder (POST and GET, RFC 6960 A.1 / RFC 5019) against
 * `openssl ocsp` as the peer, side by side in one run, both on loopback, with the same
 * certificates, the same responder certificate and key, and the same load generator.
 *
 * Setup: Anvil issues --certs certificates (the fast ACME loader of scripts/lib/acme-load.ts);
 * openssl gets an index.txt listing them as valid and Anvil's own delegated responder
 * certificate and key (`-rsigner/-rkey`, `-CA` the intermediate), so both sign with the same
 * P-256 key and answer the same CertIDs. Each cell is bounded by --seconds and --requests.
 *
 * Modes: Anvil `post` and `get` (one SHA-1 CertID, no nonce: the pre-signed path), `nonce`
 * (POST with a fresh 32-byte nonce: signed on demand), each over keep-alive connections, and
 * `post/close` (a new connection per request, like every openssl exchange: openssl closes the
 * connection after each response). openssl: `post` and `nonce` (it signs every response).
 *
 * Reported per cell: responses/s, p50/p99 latency, errors, server CPU per response (utime+stime
 * from /proc/<pid>/stat), the generator's CPU per response, and Anvil/openssl ratios.
 *
 * `openssl ocsp -port` binds every interface, so the openssl peer only runs when this process is
 * in a network namespace that has nothing but loopback (scripts/bench-ocsp arranges that).
 *
 *   scripts/bench-ocsp [--concurrency 1,8,32] [--seconds 4] [--requests 50000] [--certs 200]
 *                      [--peer openssl|none] [--json]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { runLoad } from './lib/acme-load.js';
import { freePort, runBenchmark, sampleProcess, startAnvil, type AnvilServer } from './lib/servers.js';
import { startDnsServer } from '../test/helpers/dns-server.js';
import { certIdOf, ocspRequest, OCSPResponseStatus, parseOcspResponse } from '../test/helpers/ocsp-wire.js';
import { revocationUrlsOf } from '../test/helpers/revocation-http.js';

type ServerKind = 'anvil' | 'openssl';
type Mode = 'post' | 'get' | 'nonce' | 'post/close';

interface Cell {
  server: ServerKind;
  mode: Mode;
  concurrency: number;
  completed: number;
  responsesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstErrors: string[];
  /** Server CPU (user + system) per response, in microseconds. */
  serverCpuUsPerResponse: number | null;
  generatorCpuUsPerResponse: number | null;
  seconds: number;
}

const USAGE = `usage: scripts/bench-ocsp [--concurrency 1,8,32] [--seconds 4] [--requests 50000] [--certs 200]
                         [--peer openssl|none] [--json] [--anvil-node-args "--cpu-prof --cpu-prof-dir=/tmp/prof"]`;
const PASSPHRASE = 'anvil-bench-ocsp-passphrase';
/** Every n-th response is parsed and checked (status, certStatus good, nonce echoed). */
const CHECK_EVERY = 64;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      concurrency: { type: 'string', default: '1,8,32' },
      seconds: { type: 'string', default: '4' },
      requests: { type: 'string', default: '50000' },
      certs: { type: 'string', default: '200' },
      peer: { type: 'string', default: 'openssl' },
      json: { type: 'boolean', default: false },
      'anvil-node-args': { type: 'string', default: '' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const positive = (flag: string, raw: string): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag}: expected a positive number, got "${raw}"\n${USAGE}`);
    return n;
  };
  const concurrency = values.concurrency.split(',').map((c) => Math.floor(positive('concurrency', c.trim())));
  if (concurrency.some((c) => c > 256)) throw new Error('--concurrency: at most 256 clients');
  if (values.peer !== 'openssl' && values.peer !== 'none') throw new Error(`--peer: expected openssl or none\n${USAGE}`);
  return {
    concurrency,
    seconds: positive('seconds', values.seconds),
    requests: Math.floor(positive('requests', values.requests)),
    certs: Math.floor(positive('certs', values.certs)),
    peer: values.peer as 'openssl' | 'none',
    json: values.json,
    anvilNodeArgs: values['anvil-node-args'].split(' ').filter((arg) => arg !== ''),
  };
}

type Options = ReturnType<typeof parseOptions>;

/** Only loopback in this network namespace: then `openssl ocsp -port` cannot be reached from outside. */
function onlyLoopback(): boolean {
  // getifaddrs(3) answers for this process's network namespace (/sys/class/net may not).
  return Object.entries(networkInterfaces()).every(([name, addresses]) => name === 'lo' || (addresses ?? []).length === 0);
}

// ---------------------------------------------------------------------------------------------
// Load generator
// ---------------------------------------------------------------------------------------------

interface Target {
  port: number;
  /** POST path (`/ocsp` for Anvil, `/` for openssl). */
  postPath: string;
  /** GET prefix before the url-encoded base64 request. */
  getPrefix: string;
}

interface RequestPool {
  /** DER requests, POSTed as they are. */
  bodies: Buffer[];
  /** The same requests in GET form (paths). */
  paths: string[];
  /** The nonce of each request, hex, when it has one. */
  nonces: (string | undefined)[];
}

function send(target: Target, agent: http.Agent | false, method: 'GET' | 'POST', path: string, body?: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = agent ? {} : { connection: 'close' };
    if (body) {
      headers['content-type'] = 'application/ocsp-request';
      headers['content-length'] = body.length;
    }
    const req = http.request({ host: '127.0.0.1', port: target.port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out after 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** A problem with an OCSP answer, or undefined when it is a signed `good` (with the nonce echoed, if one was sent). */
function checkAnswer(der: Buffer, nonceHex: string | undefined): string | undefined {
  try {
    const parsed = parseOcspResponse(der);
    if (parsed.responseStatus !== OCSPResponseStatus.successful) return `responseStatus ${OCSPResponseStatus[parsed.responseStatus]}`;
    const single = parsed.basic?.singles[0];
    if (single?.status !== 'good') return `certStatus ${single?.status}`;
    if (!parsed.basic?.signatureValid) return 'signature does not verify';
    if (nonceHex && Buffer.from(parsed.basic.nonce ?? []).toString('hex') !== nonceHex) return 'nonce not echoed';
    return undefined;
  } catch (error) {
    return `not an OCSPResponse: ${(error as Error).message}`;
  }
}

interface DriveResult {
  completed: number;
  elapsedS: number;
  latenciesMs: number[];
  errors: number;
  firstErrors: string[];
}

/** `concurrency` clients send requests from the pool until `seconds` or `maxRequests`. */
async function drive(target: Target, mode: Mode, pool: RequestPool, concurrency: number, seconds: number, maxRequests: number): Promise<DriveResult> {
  const agent = mode === 'post/close' ? false : new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  const firstErrors: string[] = [];
  let errors = 0;
  let issued = 0;
  let stop = false;
  const timer = setTimeout(() => (stop = true), seconds * 1000);
  const t0 = performance.now();
  const client = async (): Promise<void> => {
    while (!stop && issued < maxRequests) {
      const i = issued++;
      const k = i % pool.bodies.length;
      const started = performance.now();
      try {
        const res = mode === 'get' ? await send(target, agent, 'GET', target.getPrefix + pool.paths[k]!) : await send(target, agent, 'POST', target.postPath, pool.bodies[k]!);
        const problem = res.status !== 200 ? `HTTP ${res.status}` : i % CHECK_EVERY === 0 ? checkAnswer(res.body, pool.nonces[k]) : res.body.length === 0 ? 'empty body' : undefined;
        if (problem) throw new Error(problem);
        latencies.push(performance.now() - started);
      } catch (error) {
        errors++;
        if (firstErrors.length < 3) firstErrors.push((error as Error).message);
        if (errors > 100 && errors > latencies.length) stop = true;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const elapsedS = (performance.now() - t0) / 1000;
  clearTimeout(timer);
  if (agent) agent.destroy();
  return { completed: latencies.length, elapsedS, latenciesMs: latencies, errors, firstErrors };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (n: number, digits: number): number => Math.round(n * 10 ** digits) / 10 ** digits;

async function measure(server: ServerKind, pid: number, target: Target, mode: Mode, pool: RequestPool, concurrency: number, options: Options): Promise<Cell> {
  const cpuBefore = sampleProcess(pid);
  const genBefore = process.cpuUsage();
  const r = await drive(target, mode, pool, concurrency, options.seconds, options.requests);
  const gen = process.cpuUsage(genBefore);
  const cpuAfter = sampleProcess(pid);
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  const per = (us: number): number | null => (r.completed > 0 ? round(us / r.completed, 1) : null);
  return {
    server,
    mode,
    concurrency,
    completed: r.completed,
    responsesPerSec: round(r.completed / r.elapsedS, 0),
    p50Ms: round(percentile(sorted, 50), 2),
    p99Ms: round(percentile(sorted, 99), 2),
    errors: r.errors,
    firstErrors: r.firstErrors,
    serverCpuUsPerResponse: cpuBefore && cpuAfter ? per((cpuAfter.cpuMs - cpuBefore.cpuMs) * 1000) : null,
    generatorCpuUsPerResponse: per(gen.user + gen.system),
    seconds: round(r.elapsedS, 2),
  };
}

// ---------------------------------------------------------------------------------------------
// Setup: Anvil with issued certificates, and openssl ocsp over the same set
// ---------------------------------------------------------------------------------------------

interface Fixture {
  anvil: AnvilServer;
  anvilTarget: Target;
  leaves: string[];
  intermediate: string;
  issuerId: string;
  /** No-nonce requests (one per certificate) and nonce requests (fresh 32-byte nonces). */
  plain: RequestPool;
  withNonce: RequestPool;
}

function pool(ders: Uint8Array[], nonces: (string | undefined)[]): RequestPool {
  return {
    bodies: ders.map((d) => Buffer.from(d)),
    paths: ders.map((d) => encodeURIComponent(Buffer.from(d).toString('base64'))),
    nonces,
  };
}

async function setUp(options: Options, log: (line: string) => void): Promise<Fixture & { close(): Promise<void> }> {
  const dns = await startDnsServer();
  const http01Port = await freePort();
  const revocationPort = await freePort();
  // scripts/lib/servers.ts passes the environment on; the revocation listener is a setting like any other.
  process.env.ANVIL_REVOCATION_LISTEN = `127.0.0.1:${revocationPort}`;
  process.env.ANVIL_LOG_LEVEL = 'warn';
  const anvil = await startAnvil({ http01Port, dnsResolver: dns.resolver, passphrase: PASSPHRASE, nodeArgs: options.anvilNodeArgs });
  try {
    log(`issuing ${options.certs} certificates from Anvil…`);
    const chains: string[] = [];
    const load = await runLoad({
      directoryUrl: anvil.directoryUrl,
      caPem: anvil.caPem,
      concurrency: 8,
      maxOrders: options.certs,
      maxSeconds: 60,
      http01Port,
      namePrefix: 'ocsp',
      onCertificate: (info) => chains.push(info.pem),
    });
    if (chains.length === 0) throw new Error(`no certificate issued (${load.errors.first.join('; ')})`);
    const blocks = (pem: string): string[] => (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((b) => `${b}\n`);
    const leaves = chains.map((c) => blocks(c)[0]!);
    const intermediate = blocks(chains[0]!)[1]!;
    const urls = revocationUrlsOf(leaves[0]!);
    const plainDers = leaves.map((leaf) => ocspRequest([certIdOf(leaf, intermediate)]));
    const nonceDers: Uint8Array[] = [];
    const nonceHex: string[] = [];
    for (let i = 0; i < Math.max(1024, leaves.length); i++) {
      const nonce = randomBytes(32);
      nonceDers.push(ocspRequest([certIdOf(leaves[i % leaves.length]!, intermediate)], { nonce }));
      nonceHex.push(nonce.toString('hex'));
    }
    return {
      anvil,
      anvilTarget: { port: revocationPort, postPath: new URL(urls.ocsp).pathname, getPrefix: `${new URL(urls.ocsp).pathname}/` },
      leaves,
      intermediate,
      issuerId: urls.issuerId,
      plain: pool(plainDers, plainDers.map(() => undefined)),
      withNonce: pool(nonceDers, nonceHex),
      close: async () => {
        await anvil.stop();
        await dns.close();
      },
    };
  } catch (error) {
    await anvil.stop();
    await dns.close();
    throw error;
  }
}

/** `YYMMDDHHMMSSZ` as index.txt wants expiry dates. */
function indexDate(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
}

/** The openssl responder, killed with everything else if this process stops early. */
let opensslChild: ChildProcess | undefined;
process.on('exit', () => opensslChild?.kill('SIGKILL'));

interface OpensslResponder {
  pid: number;
  target: Target;
  output(): string;
  stop(): Promise<void>;
}

/** `openssl ocsp -index … -port … -rsigner <Anvil's responder cert> -rkey <its key> -CA <intermediate>`. */
async function startOpenssl(f: Fixture): Promise<OpensslResponder> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ocsp-openssl-'));
  const { X509Certificate } = await import('node:crypto');
  const lines = f.leaves.map((pem) => {
    const cert = new X509Certificate(pem);
    return `V\t${indexDate(new Date(cert.validTo))}\t\t${cert.serialNumber.toUpperCase()}\tunknown\t/CN=${cert.subject.replace(/^CN=/, '')}`;
  });
  writeFileSync(join(dir, 'index.txt'), `${lines.join('\n')}\n`);
  writeFileSync(join(dir, 'intermediate.pem'), f.intermediate);
  const responderDir = join(f.anvil.dataDir, 'ca', 'ocsp');
  const port = await freePort();
  const args = [
    'ocsp', '-index', join(dir, 'index.txt'), '-port', String(port),
    '-rsigner', join(responderDir, `${f.issuerId}.pem`), '-rkey', join(responderDir, `${f.issuerId}.key.pem`), '-passin', 'env:BENCH_OCSP_KEY_PASS',
    '-CA', join(dir, 'intermediate.pem'), '-ndays', '1',
  ];
  const child: ChildProcess = spawn('openssl', args, { cwd: dir, env: { ...process.env, BENCH_OCSP_KEY_PASS: PASSPHRASE }, stdio: ['ignore', 'pipe', 'pipe'] });
  opensslChild = child;
  let output = '';
  const keep = (c: Buffer): void => {
    output = (output + c.toString('utf8')).slice(-16_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(3_000).then(() => child.kill('SIGKILL'))]);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const target: Target = { port, postPath: '/', getPrefix: '/' };
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const res = await send(target, false, 'POST', '/', f.plain.bodies[0]!);
      const problem = res.status === 200 ? checkAnswer(res.body, undefined) : `HTTP ${res.status}`;
      if (problem) throw new Error(`openssl ocsp answered wrongly: ${problem}\n${output}`);
      break;
    } catch (error) {
      if ((error as Error).message.startsWith('openssl ocsp answered')) {
        await stop();
        throw error;
      }
      if (Date.now() > deadline || child.exitCode !== null) {
        await stop();
        throw new Error(`openssl ocsp did not answer on port ${port}: ${(error as Error).message}\n${output}`);
      }
      await sleep(100);
    }
  }
  return { pid: child.pid!, target, output: () => output, stop };
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

function printTable(cells: Cell[]): void {
  const header = ['server', 'mode', 'conc', 'responses', 'resp/s', 'p50 ms', 'p99 ms', 'errors', 'srv CPU µs/resp', 'gen CPU µs/resp'];
  const rows = cells.map((c) => [
    c.server,
    c.mode,
    String(c.concurrency),
    String(c.completed),
    String(c.responsesPerSec),
    c.p50Ms.toFixed(2),
    c.p99Ms.toFixed(2),
    String(c.errors),
    c.serverCpuUsPerResponse?.toFixed(1) ?? '-',
    c.generatorCpuUsPerResponse?.toFixed(1) ?? '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  for (const c of cells) for (const e of c.firstErrors) console.log(`  ${c.server} ${c.mode} c=${c.concurrency} error: ${e}`);
}

interface Ratio {
  concurrency: number;
  /** Anvil mode compared with openssl mode. */
  anvil: Mode;
  openssl: Mode;
  responsesPerSec: number | null;
  serverCpuPerResponse: number | null;
}

/** Anvil/openssl: pre-signed (keep-alive and connection-per-request) against openssl without nonce; nonce against nonce. */
function ratios(cells: Cell[]): Ratio[] {
  const pairs: [Mode, Mode][] = [['post', 'post'], ['post/close', 'post'], ['get', 'post'], ['nonce', 'nonce']];
  const out: Ratio[] = [];
  for (const concurrency of [...new Set(cells.map((c) => c.concurrency))]) {
    for (const [a, o] of pairs) {
      const anvil = cells.find((c) => c.server === 'anvil' && c.mode === a && c.concurrency === concurrency);
      const peer = cells.find((c) => c.server === 'openssl' && c.mode === o && c.concurrency === concurrency);
      if (!anvil || !peer) continue;
      out.push({
        concurrency,
        anvil: a,
        openssl: o,
        responsesPerSec: peer.responsesPerSec > 0 ? round(anvil.responsesPerSec / peer.responsesPerSec, 2) : null,
        serverCpuPerResponse: anvil.serverCpuUsPerResponse !== null && peer.serverCpuUsPerResponse ? round(anvil.serverCpuUsPerResponse / peer.serverCpuUsPerResponse, 2) : null,
      });
    }
  }
  return out;
}

async function main(): Promise<number> {
  const options = parseOptions();
  const log = (line: string): void => {
    if (!options.json) process.stderr.write(`${line}\n`);
  };
  let peer = options.peer;
  if (peer === 'openssl' && !onlyLoopback()) {
    throw new Error('openssl ocsp -port binds every interface: run scripts/bench-ocsp (it enters a network namespace with only loopback), or pass --peer none');
  }
  const started = performance.now();
  const fixture = await setUp(options, log);
  const cells: Cell[] = [];
  let opensslNote: string | undefined;
  try {
    log(`${fixture.leaves.length} certificates; warming Anvil up…`);
    await drive(fixture.anvilTarget, 'post', fixture.plain, 8, 1, 5_000);
    await drive(fixture.anvilTarget, 'nonce', fixture.withNonce, 8, 0.5, 2_000);
    const anvilModes: [Mode, RequestPool][] = [['post', fixture.plain], ['get', fixture.plain], ['post/close', fixture.plain], ['nonce', fixture.withNonce]];
    let openssl: OpensslResponder | undefined;
    if (peer === 'openssl') {
      try {
        openssl = await startOpenssl(fixture);
      } catch (error) {
        opensslNote = (error as Error).message.split('\n')[0];
        peer = 'none';
      }
    }
    try {
      for (const concurrency of options.concurrency) {
        for (const [mode, requests] of anvilModes) {
          log(`anvil ${mode} c=${concurrency}…`);
          cells.push(await measure('anvil', fixture.anvil.pid, fixture.anvilTarget, mode, requests, concurrency, options));
        }
        if (openssl) {
          for (const [mode, requests] of [['post', fixture.plain], ['nonce', fixture.withNonce]] as [Mode, RequestPool][]) {
            log(`openssl ${mode} c=${concurrency}…`);
            cells.push(await measure('openssl', openssl.pid, openssl.target, mode, requests, concurrency, options));
          }
        }
      }
    } finally {
      await openssl?.stop();
    }
  } finally {
    await fixture.close();
  }
  const ratioList = ratios(cells);
  const totalS = round((performance.now() - started) / 1000, 1);
  if (options.json) {
    console.log(JSON.stringify({ machine: { cpus: cpus().length, node: process.version }, options, totalSeconds: totalS, certificates: fixture.leaves.length, opensslNote, cells, ratios: ratioList }, null, 2));
  } else {
    printTable(cells);
    for (const r of ratioList) {
      console.log(`c=${r.concurrency}: Anvil ${r.anvil} / openssl ${r.openssl}: responses/s ${r.responsesPerSec ?? '-'}×, server CPU per response ${r.serverCpuPerResponse ?? '-'}×`);
    }
    if (opensslNote) console.log(`openssl peer skipped: ${opensslNote}`);
    console.log(`${fixture.leaves.length} certificates, ${cpus().length} CPUs, ${totalS} s in all. post/get: one SHA-1 CertID, no nonce (Anvil's pre-signed path); nonce: a fresh 32-byte nonce per request (signed per request);`);
    console.log('post/close: a new TCP connection per request, as openssl ocsp forces on every exchange. The load generator shares the machine.');
  }
  return cells.some((c) => c.completed === 0) ? 1 : 0;
}

runBenchmark(main, () => opensslChild?.kill('SIGKILL'));
