/**
 * A minimal, efficient ACME (RFC 8555) load generator for benchmarks and crash tests.
 *
 * Each client owns one ES256 account and loops over full orders: newOrder (one unique DNS name),
 * fetch the authorization, answer http-01 from one shared responder, poll the ORDER until `ready`
 * (never the authorization: Pebble 2.4 deadlocks on authz polling, see /work/shared/INTEROP.md),
 * finalize with a fresh P-256 CSR, poll the order until `valid`, download the chain.
 * Every loop is bounded in count and time; a stall detector stops a run that makes no progress.
 */
// @peculiar/x509 2.x needs a Reflect metadata polyfill loaded first (its README); reflect-metadata is in
// node_modules through acme-client, not yet a direct dependency.
import 'reflect-metadata';
import { setMaxListeners } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { generateKeyPairSync, sign, webcrypto } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlattenedSign, calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** The `application/pem-certificate-chain` media type (RFC 8555 §9.1). */
export const PEM_CHAIN = 'application/pem-certificate-chain';
const BAD_NONCE = 'urn:ietf:params:acme:error:badNonce';
const MAX_NONCE_RETRIES = 5;
const MAX_POLLS = 5000;
const NONCE_POOL_MAX = 4096;

export interface AcmeResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** An ACME directory (RFC 8555 §7.1.1), the fields this client uses. */
export interface AcmeDirectory {
  readonly newNonce: string;
  readonly newAccount: string;
  readonly newOrder: string;
}

/** An account key and, once registered, its account URL (`kid`). */
export interface AccountCredentials {
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
  /** RFC 7638 thumbprint, base64url, for key authorizations (RFC 8555 §8.1). */
  readonly thumbprint: string;
  readonly kid: string;
}

/** An error response from the server, with the RFC 7807 problem fields when present. */
export class AcmeRequestError extends Error {
  constructor(
    readonly status: number,
    readonly type: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'AcmeRequestError';
  }
}

interface OrderBody {
  status: string;
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: { type?: string; detail?: string };
}
interface AuthzBody {
  status: string;
  challenges: Array<{ type: string; url: string; token: string; status: string }>;
}

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** One keep-alive HTTPS transport to one ACME server, with a shared nonce pool (RFC 8555 §7.2). */
export class AcmeTransport {
  private readonly nonces: string[] = [];
  /** HTTP requests sent so far. */
  requests = 0;

  private constructor(
    readonly directory: AcmeDirectory,
    private readonly agent: https.Agent,
    private readonly timeoutMs: number,
  ) {}

  /** Fetches the directory over a keep-alive agent that trusts only `caPem`. */
  static async open(options: { directoryUrl: string; caPem: string; timeoutMs?: number; signal?: AbortSignal }): Promise<AcmeTransport> {
    const agent = new https.Agent({ keepAlive: true, ca: options.caPem, maxFreeSockets: 1024 });
    const timeoutMs = options.timeoutMs ?? 30_000;
    const res = await send(agent, 'GET', options.directoryUrl, undefined, {}, timeoutMs, options.signal);
    if (res.status !== 200) {
      agent.destroy();
      throw new Error(`GET ${options.directoryUrl}: HTTP ${res.status}`);
    }
    const directory = JSON.parse(res.body.toString('utf8')) as AcmeDirectory;
    return new AcmeTransport(directory, agent, timeoutMs);
  }

  /** Closes every pooled socket. */
  close(): void {
    this.agent.destroy();
  }

  /** A plain request; keeps any Replay-Nonce for later use. */
  async request(method: string, url: string, body?: string, headers: http.OutgoingHttpHeaders = {}, signal?: AbortSignal): Promise<AcmeResponse> {
    this.requests++;
    const res = await send(this.agent, method, url, body, headers, this.timeoutMs, signal);
    const nonce = res.headers['replay-nonce'];
    if (typeof nonce === 'string' && nonce !== '') {
      this.nonces.push(nonce);
      if (this.nonces.length > NONCE_POOL_MAX) this.nonces.shift();
    }
    return res;
  }

  private async nonce(signal?: AbortSignal): Promise<string> {
    const pooled = this.nonces.pop();
    if (pooled !== undefined) return pooled;
    const res = await this.request('HEAD', this.directory.newNonce, undefined, {}, signal);
    const fresh = this.nonces.pop();
    if (fresh === undefined) throw new Error(`HEAD newNonce: HTTP ${res.status} without Replay-Nonce`);
    return fresh;
  }

  /**
   * A JWS-signed POST (RFC 8555 §6.2): `payload` undefined means POST-as-GET (§6.3).
   * `kid` null signs with the embedded JWK (newAccount). badNonce is retried a bounded number of times.
   */
  async post(
    key: { privateKey: CryptoKey; jwk: JWK },
    kid: string | null,
    url: string,
    payload: unknown,
    options: { accept?: string; signal?: AbortSignal } = {},
  ): Promise<AcmeResponse> {
    const bytes = payload === undefined ? EMPTY : encoder.encode(JSON.stringify(payload));
    for (let attempt = 0; ; attempt++) {
      const nonce = await this.nonce(options.signal);
      const header = kid === null ? { alg: 'ES256', nonce, url, jwk: key.jwk } : { alg: 'ES256', nonce, url, kid };
      const jws = await new FlattenedSign(bytes).setProtectedHeader(header).sign(key.privateKey);
      const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/jose+json' };
      if (options.accept) headers['accept'] = options.accept;
      const res = await this.request('POST', url, JSON.stringify(jws), headers, options.signal);
      if (res.status < 400) return res;
      const problem = parseProblem(res);
      if (problem.type === BAD_NONCE && attempt < MAX_NONCE_RETRIES) continue;
      throw new AcmeRequestError(res.status, problem.type, `POST ${new URL(url).pathname}: HTTP ${res.status} ${problem.type ?? ''} ${problem.detail ?? ''}`.trim());
    }
  }

  /** POST-as-GET of `url` as an existing account (RFC 8555 §6.3). */
  postAsGet(account: AccountCredentials, url: string, options: { accept?: string; signal?: AbortSignal } = {}): Promise<AcmeResponse> {
    return this.post(account, account.kid, url, undefined, options);
  }

  /** Creates a fresh ES256 key and registers an account for it (RFC 8555 §7.3). */
  async newAccount(signal?: AbortSignal): Promise<AccountCredentials> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: false });
    const jwk = await exportJWK(publicKey);
    const thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
    const res = await this.post({ privateKey, jwk }, null, this.directory.newAccount, { termsOfServiceAgreed: true }, signal ? { signal } : {});
    const kid = res.headers.location;
    if (typeof kid !== 'string') throw new Error(`newAccount: HTTP ${res.status} without Location`);
    return { privateKey, jwk, thumbprint, kid };
  }
}

function send(
  agent: https.Agent,
  method: string,
  url: string,
  body: string | undefined,
  headers: http.OutgoingHttpHeaders,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<AcmeResponse> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, agent, headers, ...(signal ? { signal } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url}: no response within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

function parseProblem(res: AcmeResponse): { type?: string; detail?: string } {
  try {
    const parsed = JSON.parse(res.body.toString('utf8')) as { type?: unknown; detail?: unknown };
    return {
      ...(typeof parsed.type === 'string' ? { type: parsed.type } : {}),
      ...(typeof parsed.detail === 'string' ? { detail: parsed.detail } : {}),
    };
  } catch {
    return { detail: res.body.toString('utf8').slice(0, 200) };
  }
}

function json<T>(res: AcmeResponse): T {
  return JSON.parse(res.body.toString('utf8')) as T;
}

/** Replaces the origin of `url` with the origin of `base` (a restarted server listens elsewhere). */
export function rebaseUrl(url: string, base: string): string {
  const target = new URL(url);
  const origin = new URL(base);
  target.protocol = origin.protocol;
  target.host = origin.host;
  return target.toString();
}

/** The same credentials with the account URL moved to the origin of `base`. */
export function rebaseAccount(account: AccountCredentials, base: string): AccountCredentials {
  return { ...account, kid: rebaseUrl(account.kid, base) };
}

/** DER TLV with a definite length (X.690 §8.1). */
function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  const n = body.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
}

const OID_CN = Buffer.from('0603550403', 'hex');
const OID_EXTENSION_REQUEST = Buffer.from('06092a864886f70d01090e', 'hex');
const OID_SUBJECT_ALT_NAME = Buffer.from('0603551d11', 'hex');
const ECDSA_WITH_SHA256 = der(0x30, Buffer.from('06082a8648ce3d040302', 'hex'));
const VERSION_0 = Buffer.from('020100', 'hex');

/**
 * A DER PKCS#10 CSR (RFC 2986) for `name` with a fresh P-256 key, base64url (RFC 8555 §7.4):
 * CN (when ≤ 64 characters) and one dNSName SAN in an extensionRequest, signed ecdsa-with-SHA256.
 * Encoded directly rather than with @peculiar/x509's generator, which costs ~3 ms of CPU per CSR
 * (≈ 0.2 ms here) — the generator shares the machine with the server it measures.
 * `checkCsr` verifies this encoder with @peculiar/x509 once per run.
 */
export function makeCsr(name: string): string {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ascii = Buffer.from(name, 'ascii');
  // X.520 caps a CN at 64 characters; a longer name goes in the SAN only.
  const subject = ascii.length <= 64 ? der(0x30, der(0x31, der(0x30, OID_CN, der(0x0c, ascii)))) : der(0x30, Buffer.alloc(0));
  const san = der(0x30, OID_SUBJECT_ALT_NAME, der(0x04, der(0x30, der(0x82, ascii))));
  const attributes = der(0xa0, der(0x30, OID_EXTENSION_REQUEST, der(0x31, der(0x30, san))));
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const info = der(0x30, VERSION_0, subject, spki, attributes);
  const signature = sign('sha256', info, { key: privateKey, dsaEncoding: 'der' });
  return der(0x30, info, ECDSA_WITH_SHA256, der(0x03, Buffer.from([0]), signature)).toString('base64url');
}

/** Parses a CSR from `makeCsr` with @peculiar/x509 and checks its signature and SAN; throws if wrong. */
export async function checkCsr(name: string): Promise<void> {
  const csr = new x509.Pkcs10CertificateRequest(Buffer.from(makeCsr(name), 'base64url'));
  const san = csr.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension);
  const names = san?.names.items.map((item) => `${item.type}:${item.value}`) ?? [];
  if (!(await csr.verify()) || csr.subject !== (name.length <= 64 ? `CN=${name}` : '') || names.join(',') !== `dns:${name}`) {
    throw new Error(`CSR encoder self-check failed: subject ${csr.subject}, SAN ${names.join(',')}`);
  }
}

/** One HTTP server answering http-01 key authorizations (RFC 8555 §8.3) for every client. */
export class Http01Responder {
  private readonly tokens = new Map<string, string>();
  private constructor(private readonly server: http.Server) {}

  static async start(port: number): Promise<Http01Responder> {
    const server = http.createServer();
    const responder = new Http01Responder(server);
    server.on('request', (req, res) => responder.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return responder;
  }

  set(token: string, keyAuthorization: string): void {
    this.tokens.set(token, keyAuthorization);
  }

  delete(token: string): void {
    this.tokens.delete(token);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const prefix = '/.well-known/acme-challenge/';
    const path = req.url ?? '';
    const value = path.startsWith(prefix) ? this.tokens.get(path.slice(prefix.length)) : undefined;
    if (value === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('unknown token');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(value) }).end(value);
  }
}

/** What a client received for one completed order. */
export interface CertificateInfo {
  readonly certUrl: string;
  readonly pem: string;
  readonly names: string[];
  /** The account that owns the order (and may POST-as-GET the certificate). */
  readonly account: AccountCredentials;
}

export interface LoadOptions {
  directoryUrl: string;
  /** Further instances of the same CA: client i keeps to instance i mod n, as a client behind a balancer keeps to one connection. */
  moreDirectoryUrls?: string[];
  caPem: string;
  concurrency: number;
  /** Upper bound on orders started in this run. */
  maxOrders: number;
  /** Hard stop of the order phase, in seconds (account creation has its own bound). */
  maxSeconds: number;
  /** Port of the http-01 responder; the CA's validator must connect to it. */
  http01Port: number;
  /** First label of every name: `<prefix>-<client>-<n>.bench.test`. */
  namePrefix: string;
  /** Delay between order polls; Retry-After is deliberately ignored to measure the server, not the delay. */
  pollMs?: number;
  /** Stop and report `stalled` when no order completes, or one client's order does not, for this long (default 5 s). */
  stallSeconds?: number;
  /** Per-request timeout (default 30 s). */
  requestTimeoutMs?: number;
  /** Stops the run early (e.g. a crash test that kills the server). */
  signal?: AbortSignal;
  /** Called once all accounts exist, when the timed order phase starts. */
  onStart?(): void;
  onCertificate?(info: CertificateInfo): void;
}

/** Where an order's time goes: newOrder + authz + challenge POST; polls until ready; finalize + polls until valid; download. */
export interface PhaseTimes {
  order: number;
  validation: number;
  issuance: number;
  download: number;
}

export interface LoadResult {
  completed: number;
  started: number;
  errors: { count: number; first: string[] };
  /** Wall time of the order phase. */
  durationS: number;
  /** Time the rate is taken over: the whole phase, or up to the start of the first stalled order. */
  windowS: number;
  ordersPerSec: number;
  p50Ms: number;
  p99Ms: number;
  stalled: boolean;
  /** Clients whose order had hung for the stall time when the run stopped. */
  stuckClients: number;
  /** Orders completed in each second of the order phase. */
  timeline: number[];
  /** Mean milliseconds per order in each phase (summed over all orders, divided by completed ones). */
  phaseMs: PhaseTimes;
  /** HTTP requests sent in the order phase per completed order. */
  requestsPerOrder: number;
  /** Why the run ended: all orders done, time limit, stall, or the caller's signal. */
  stopReason: 'orders' | 'time' | 'stall' | 'signal';
  accounts: AccountCredentials[];
}

/** Runs `concurrency` ACME clients against one server until an order, time or stall bound is hit. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const pollMs = options.pollMs ?? 10;
  const stallMs = (options.stallSeconds ?? 5) * 1000;
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([stop.signal, options.signal]) : stop.signal;
  // Every in-flight request and sleep listens on the signal: several per client.
  setMaxListeners(0, signal);
  const responder = await Http01Responder.start(options.http01Port);
  const transports: AcmeTransport[] = [];
  try {
    await checkCsr(`${options.namePrefix}-check.bench.test`);
    const timeout = options.requestTimeoutMs ? { timeoutMs: options.requestTimeoutMs } : {};
    for (const directoryUrl of [options.directoryUrl, ...(options.moreDirectoryUrls ?? [])]) {
      transports.push(await AcmeTransport.open({ directoryUrl, caPem: options.caPem, signal, ...timeout }));
    }
    const transportOf = (client: number): AcmeTransport => transports[client % transports.length]!;
    const requestsSent = (): number => transports.reduce((sum, t) => sum + t.requests, 0);
    const accountBound = AbortSignal.any([signal, AbortSignal.timeout(60_000)]);
    setMaxListeners(0, accountBound);
    const accounts = await Promise.all(Array.from({ length: options.concurrency }, (_, i) => transportOf(i).newAccount(accountBound)));

    const latencies: number[] = [];
    const completedAt: number[] = [];
    const phases: PhaseTimes = { order: 0, validation: 0, issuance: 0, download: 0 };
    const requestsBefore = requestsSent();
    const errors: string[] = [];
    let errorCount = 0;
    let started = 0;
    let stopReason = 'orders' as LoadResult['stopReason'];
    /** When each client's current order began; NaN while it is between orders. */
    const busySince = new Float64Array(options.concurrency).fill(Number.NaN);
    let stallStart = Number.NaN;
    const t0 = performance.now();
    let lastCompletion = t0;
    const halt = (reason: LoadResult['stopReason']): void => {
      if (stop.signal.aborted) return;
      stopReason = reason;
      stop.abort(new Error(`load stopped: ${reason}`));
    };
    options.signal?.addEventListener('abort', () => halt('signal'), { once: true });
    if (options.signal?.aborted) halt('signal');
    const deadline = setTimeout(() => halt('time'), options.maxSeconds * 1000);
    // A stall: no order completed for stallMs (server hung), or one client's order is older than
    // stallMs (a partial hang, e.g. Pebble's lock-order deadlock caught only some requests).
    const watchdog = setInterval(() => {
      const now = performance.now();
      const stuck = Array.from(busySince).filter((since) => now - since > stallMs);
      if (stuck.length > 0 || now - lastCompletion > stallMs) {
        stallStart = stuck.length > 0 ? Math.min(...stuck) : lastCompletion;
        halt('stall');
      }
    }, Math.min(250, stallMs));
    options.onStart?.();

    const client = async (index: number): Promise<void> => {
      const account = accounts[index]!;
      for (let n = 0; !signal.aborted && started < options.maxOrders; n++) {
        started++;
        const name = `${options.namePrefix}-${index}-${n}.bench.test`;
        const begin = performance.now();
        busySince[index] = begin;
        try {
          const got = await oneOrder(transportOf(index), responder, account, name, pollMs, signal, phases);
          lastCompletion = performance.now();
          latencies.push(lastCompletion - begin);
          completedAt.push(lastCompletion);
          options.onCertificate?.({ ...got, names: [name], account });
        } catch (error) {
          if (signal.aborted) break;
          errorCount++;
          if (errors.length < 5) errors.push(`${name}: ${(error as Error).message}`);
          busySince[index] = Number.NaN;
          await sleep(20, undefined, { signal }).catch(() => undefined);
        }
        busySince[index] = Number.NaN;
      }
    };
    const clients = Promise.allSettled(accounts.map((_, index) => client(index)));
    // Aborted requests end at once; the extra bound only guards against a socket that ignores the abort.
    const abortBound = new Promise<void>((resolve) => signal.addEventListener('abort', () => setTimeout(resolve, 5000).unref(), { once: true }));
    await Promise.race([clients, abortBound]);
    const end = stop.signal.aborted ? performance.now() : lastCompletion;
    clearTimeout(deadline);
    clearInterval(watchdog);

    const stalled = stopReason === 'stall';
    const windowEnd = stalled ? stallStart : end;
    const inWindow = completedAt.filter((at) => at <= windowEnd).length;
    const windowS = (windowEnd - t0) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      completed: latencies.length,
      started,
      errors: { count: errorCount, first: errors },
      durationS: (end - t0) / 1000,
      windowS,
      ordersPerSec: windowS > 0 ? inWindow / windowS : 0,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      stalled,
      stuckClients: stalled ? Array.from(busySince).filter((since) => end - since > stallMs).length : 0,
      timeline: perSecond(completedAt, t0, end),
      phaseMs: perOrder(phases, latencies.length),
      requestsPerOrder: latencies.length > 0 ? Math.round(((requestsSent() - requestsBefore) / latencies.length) * 10) / 10 : 0,
      stopReason,
      accounts,
    };
  } finally {
    stop.abort();
    for (const t of transports) t.close();
    await responder.close();
  }
}

/** Completions in each whole second of the run. */
function perSecond(completedAt: number[], t0: number, end: number): number[] {
  const buckets = new Array<number>(Math.max(1, Math.ceil((end - t0) / 1000))).fill(0);
  for (const at of completedAt) buckets[Math.min(buckets.length - 1, Math.floor((at - t0) / 1000))]! += 1;
  return buckets;
}

async function oneOrder(
  acme: AcmeTransport,
  responder: Http01Responder,
  account: AccountCredentials,
  name: string,
  pollMs: number,
  signal: AbortSignal,
  phases: PhaseTimes,
): Promise<{ certUrl: string; pem: string }> {
  const opts = { signal };
  let mark = performance.now();
  const lap = (phase: keyof PhaseTimes): void => {
    const now = performance.now();
    phases[phase] += now - mark;
    mark = now;
  };
  const created = await acme.post(account, account.kid, acme.directory.newOrder, { identifiers: [{ type: 'dns', value: name }] }, opts);
  const orderUrl = created.headers.location;
  if (typeof orderUrl !== 'string') throw new Error(`newOrder: HTTP ${created.status} without Location`);
  let order = json<OrderBody>(created);
  const token = await answerChallenge(acme, responder, account, order, signal);
  lap('order');
  try {
    order = await pollOrder(acme, account, orderUrl, order, ['pending'], pollMs, signal);
    lap('validation');
    if (order.status === 'ready') {
      const finalized = await acme.post(account, account.kid, order.finalize, { csr: makeCsr(name) }, opts);
      order = json<OrderBody>(finalized);
    }
    order = await pollOrder(acme, account, orderUrl, order, ['ready', 'processing'], pollMs, signal);
    lap('issuance');
  } finally {
    if (token !== undefined) responder.delete(token);
  }
  if (order.status !== 'valid' || !order.certificate) throw new Error(`order ${orderUrl} is ${order.status}: ${order.error?.detail ?? 'no certificate'}`);
  const cert = await acme.postAsGet(account, order.certificate, { accept: PEM_CHAIN, signal });
  const pem = cert.body.toString('utf8');
  if (!pem.startsWith('-----BEGIN CERTIFICATE-----')) throw new Error(`certificate ${order.certificate}: not a PEM chain`);
  lap('download');
  return { certUrl: order.certificate, pem };
}

/** Publishes the http-01 key authorization and asks the server to validate (RFC 8555 §7.5.1). */
async function answerChallenge(
  acme: AcmeTransport,
  responder: Http01Responder,
  account: AccountCredentials,
  order: OrderBody,
  signal: AbortSignal,
): Promise<string | undefined> {
  if (order.status !== 'pending') return undefined;
  const authzUrl = order.authorizations[0];
  if (authzUrl === undefined) throw new Error('order without authorizations');
  const authz = json<AuthzBody>(await acme.postAsGet(account, authzUrl, { signal }));
  if (authz.status === 'valid') return undefined;
  const challenge = authz.challenges.find((c) => c.type === 'http-01');
  if (!challenge) throw new Error(`authorization ${authzUrl} offers no http-01 challenge`);
  responder.set(challenge.token, `${challenge.token}.${account.thumbprint}`);
  await acme.post(account, account.kid, challenge.url, {}, { signal });
  return challenge.token;
}

/** Polls the order (never the authorization) while its status is one of `waiting`. */
async function pollOrder(
  acme: AcmeTransport,
  account: AccountCredentials,
  orderUrl: string,
  current: OrderBody,
  waiting: string[],
  pollMs: number,
  signal: AbortSignal,
): Promise<OrderBody> {
  let order = current;
  for (let polls = 0; waiting.includes(order.status); polls++) {
    if (polls >= MAX_POLLS) throw new Error(`order ${orderUrl} still ${order.status} after ${MAX_POLLS} polls`);
    await sleep(pollMs, undefined, { signal });
    order = json<OrderBody>(await acme.postAsGet(account, orderUrl, { signal }));
  }
  if (order.status === 'invalid') throw new Error(`order ${orderUrl} invalid: ${order.error?.type ?? ''} ${order.error?.detail ?? ''}`.trim());
  return order;
}

function perOrder(phases: PhaseTimes, completed: number): PhaseTimes {
  const mean = (ms: number): number => (completed > 0 ? Math.round((ms / completed) * 10) / 10 : 0);
  return { order: mean(phases.order), validation: mean(phases.validation), issuance: mean(phases.issuance), download: mean(phases.download) };
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return Math.round(sorted[index]! * 10) / 10;
}
