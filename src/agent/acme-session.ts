/**
 * One CA endpoint as the agent uses it, on acme-client (JWS, nonces, account, orders, polling).
 *
 * acme-client sends through one module-level axios instance. So that many agents, each with its
 * own endpoints and trust, share a process, a single request interceptor looks the request's
 * origin up in a registry and sets the TLS trust and the timeout for that origin; it also turns
 * off acme-client's own retries for these origins (up to 75 s of sleeping on a dead endpoint),
 * because failing over to the next endpoint is the agent's job.
 */
import https from 'node:https';
import tls from 'node:tls';
import acme from 'acme-client';
import { isIP } from 'node:net';
import { createRequire } from 'node:module';
import type { AgentKeyType } from './config.js';
import { clampRetryAfter, type Window } from './scheduler.js';
import { httpsGet } from './https-get.js';
import { generateKeyPair, type KeyObject } from 'node:crypto';

interface OriginSettings {
  agent: https.Agent;
  ca: string | undefined;
  timeoutMs: number;
}

const origins = new Map<string, OriginSettings>();
/** The axios that acme-client itself loads (not a dependency of ours), for its http adapter. */
const acmeAxios = createRequire(createRequire(import.meta.url).resolve('acme-client'))('axios') as { getAdapter(name: string): (config: unknown) => Promise<unknown> };
const httpAdapter = acmeAxios.getAdapter('http');
let interceptorInstalled = false;

function installInterceptor(): void {
  if (interceptorInstalled) return;
  interceptorInstalled = true;
  acme.axios.interceptors.request.use((config) => {
    const url = config.url;
    if (!url) return config;
    let origin: string;
    try {
      origin = new URL(url).origin;
    } catch {
      return config;
    }
    const settings = origins.get(origin);
    if (!settings) return config;
    config.httpsAgent = settings.agent;
    config.timeout = settings.timeoutMs;
    config.proxy = false;
    // acme-client's retry loop counts this field; a huge value means "no retry" (see its axios.js).
    (config as unknown as { retryAttempt: number }).retryAttempt = Number.MAX_SAFE_INTEGER;
    // acme-client turns a network error it does not retry into "Cannot read properties of undefined";
    // answer such errors with a synthetic 599 problem instead, so the agent reports the real cause.
    config.adapter = (async (cfg: unknown) => {
      try {
        return await httpAdapter(cfg);
      } catch (error) {
        const e = error as { response?: unknown; code?: string; message?: string };
        if (e.response) throw error;
        const detail = `network error: ${e.code ?? ''} ${e.message ?? ''}`.trim();
        return { data: { type: 'urn:anvil:agent:network', detail }, status: 599, statusText: 'Network Error', headers: {}, config: cfg, request: undefined };
      }
    }) as never;
    return config;
  });
}

/** Registers the trust and timeout for a directory URL's origin (a changed trust replaces it). */
export function registerOrigin(directoryUrl: string, ca: string | undefined, timeoutMs: number): void {
  installInterceptor();
  const origin = new URL(directoryUrl).origin;
  const previous = origins.get(origin);
  if (previous && previous.ca === ca && previous.timeoutMs === timeoutMs) return;
  // The previous agent is not destroyed: another embedded agent may have a request in flight on it.
  // One secure context per trust: parsing the CA bundle per TLS connection costs more than the handshake.
  const secureContext = ca ? tls.createSecureContext({ ca }) : undefined;
  origins.set(origin, { agent: new https.Agent({ keepAlive: true, maxSockets: 64, ...(secureContext ? { secureContext } : {}) }), ca, timeoutMs });
}

/** The keep-alive agent registered for a URL's origin, if any (shared by ARI and trust bundle GETs). */
export function originAgent(url: string): https.Agent | undefined {
  return origins.get(new URL(url).origin)?.agent;
}

/** A fresh private key for a certificate, as PKCS#8 PEM. */
export async function generateCertKey(type: AgentKeyType): Promise<string> {
  // Asynchronous: an RSA key takes long enough to stall every other agent in the process.
  const pair = await new Promise<KeyObject>((resolve, reject) => {
    const done = (error: Error | null, _pub: KeyObject, priv: KeyObject): void => (error ? reject(error) : resolve(priv));
    if (type === 'ecdsa-p256') generateKeyPair('ec', { namedCurve: 'P-256' }, done);
    else if (type === 'ecdsa-p384') generateKeyPair('ec', { namedCurve: 'P-384' }, done);
    else generateKeyPair('rsa', { modulusLength: Number(type.slice(3)) }, done);
  });
  return pair.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** How the agent proves control of a name: it is handed the token and key authorization. */
export interface ChallengeSolver {
  /** The challenge type this solver answers. */
  type: 'http-01' | 'tkauth-01';
  /** Makes the response available; returns a function that removes it again. For tkauth-01 returns the token to post. */
  present(token: string, keyAuthorization: string): Promise<{ cleanup(): Promise<void>; payload?: Record<string, unknown> }>;
}

/** Steps of an order, reported to the agent (for logs, metrics and embedding tools). */
export type OrderStep = 'account' | 'order-created' | 'authorized' | 'finalized';

/** What an ARI GET answered. */
export interface AriAnswer {
  window: Window;
  retryAfterMs: number;
  explanationUrl?: string | undefined;
}

/** An ACME endpoint: account, orders, ARI. */
export class AcmeSession {
  private client: acme.Client | undefined;
  private directory: Record<string, unknown> | undefined;

  constructor(
    readonly directoryUrl: string,
    private readonly options: {
      accountKeyPem: string;
      contact: string[];
      eab?: { kid: string; hmacKey: string } | undefined;
      ca: string | undefined;
      timeoutMs: number;
      pollMs: number;
    },
  ) {}

  /** Applies a changed trust (after the bundle moved). */
  setTrust(ca: string | undefined): void {
    this.options.ca = ca;
    registerOrigin(this.directoryUrl, ca, this.options.timeoutMs);
  }

  private async ready(): Promise<acme.Client> {
    if (this.client) return this.client;
    registerOrigin(this.directoryUrl, this.options.ca, this.options.timeoutMs);
    await this.getDirectory(); // fails with the network cause (ECONNREFUSED, TLS, timeout) before acme-client hides it
    const client = new acme.Client({
      directoryUrl: this.directoryUrl,
      accountKey: this.options.accountKeyPem,
      backoffAttempts: 30,
      backoffMin: this.options.pollMs,
      backoffMax: this.options.pollMs * 4,
      ...(this.options.eab ? { externalAccountBinding: this.options.eab } : {}),
    });
    await client.createAccount({ termsOfServiceAgreed: true, ...(this.options.contact.length ? { contact: this.options.contact } : {}) });
    this.client = client;
    return client;
  }

  /** The directory object (cached for the session). */
  async getDirectory(): Promise<Record<string, unknown>> {
    if (this.directory) return this.directory;
    registerOrigin(this.directoryUrl, this.options.ca, this.options.timeoutMs);
    const res = await httpsGet(this.directoryUrl, { ca: this.options.ca, agent: originAgent(this.directoryUrl), timeoutMs: this.options.timeoutMs });
    if (res.status !== 200) throw new Error(`GET ${this.directoryUrl} answered ${res.status}`);
    this.directory = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
    return this.directory;
  }

  /** The account's thumbprint (RFC 7638), for workload-token commands. */
  async thumbprint(): Promise<string> {
    const client = await this.ready();
    const jwk = (client as unknown as { api: { http: { getJwk(): Record<string, string> } } }).api.http.getJwk();
    const { calculateJwkThumbprint } = await import('jose');
    return calculateJwkThumbprint(jwk as never, 'sha256');
  }

  /** RFC 9773: the suggested window, or undefined when the CA has no renewalInfo resource. */
  async renewalInfo(certId: string, retryAfter: { minMs: number; maxMs: number }): Promise<AriAnswer | undefined> {
    const directory = await this.getDirectory();
    const base = directory.renewalInfo;
    if (typeof base !== 'string') return undefined;
    const url = `${base.replace(/\/$/, '')}/${certId}`;
    const res = await httpsGet(url, { ca: this.options.ca, agent: originAgent(url), timeoutMs: this.options.timeoutMs });
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`ARI ${base} answered ${res.status}`);
    const body = JSON.parse(res.body.toString('utf8')) as { suggestedWindow?: { start?: string; end?: string }; explanationURL?: string };
    const start = Date.parse(body.suggestedWindow?.start ?? '');
    const end = Date.parse(body.suggestedWindow?.end ?? '');
    if (Number.isNaN(start) || Number.isNaN(end) || end < start) throw new Error('ARI answer has no valid suggestedWindow');
    const header = res.headers['retry-after'];
    return {
      window: { start, end },
      retryAfterMs: clampRetryAfter(Array.isArray(header) ? header[0] : header, Date.now(), retryAfter.minMs, retryAfter.maxMs),
      explanationUrl: body.explanationURL,
    };
  }

  /**
   * One full order: newOrder (with profile and `replaces` when given), authorizations through the
   * solver, finalize with a CSR for `keyPem`, download. Returns the PEM chain (leaf first).
   */
  async order(
    request: { names: string[]; profile?: string | undefined; replaces?: string | undefined; keyPem: string },
    solver: ChallengeSolver,
    onStep: (step: OrderStep) => Promise<void>,
  ): Promise<string> {
    const client = await this.ready();
    await onStep('account');
    const identifiers = request.names.map((n) => ({ type: isIP(n) ? 'ip' : 'dns', value: n }));
    const order = await client.createOrder({ identifiers, ...(request.profile ? { profile: request.profile } : {}), ...(request.replaces ? { replaces: request.replaces } : {}) } as never);
    await onStep('order-created');
    for (const authz of await client.getAuthorizations(order)) {
      if (authz.status === 'valid') continue;
      const challenge = (authz.challenges as { type: string; url: string; token: string }[]).find((c) => c.type === solver.type);
      if (!challenge) throw new Error(`the CA offers no ${solver.type} challenge for ${authz.identifier.value} (offered: ${authz.challenges.map((c) => c.type).join(', ')})`);
      const keyAuthorization = await client.getChallengeKeyAuthorization(challenge as never);
      const presented = await solver.present(challenge.token, keyAuthorization);
      try {
        const api = (client as unknown as { api: { completeChallenge(url: string, data: unknown): Promise<unknown> } }).api;
        await api.completeChallenge(challenge.url, presented.payload ?? {});
        await client.waitForValidStatus(authz as never);
      } finally {
        await presented.cleanup();
      }
    }
    await onStep('authorized');
    const [, csr] = await acme.crypto.createCsr({ altNames: request.names }, request.keyPem);
    const finalized = await client.finalizeOrder(order, csr);
    await onStep('finalized');
    return client.getCertificate(finalized);
  }

  /** Forgets the account client (after a transport failure, so the next use starts clean). */
  reset(): void {
    this.client = undefined;
    this.directory = undefined;
  }
}
