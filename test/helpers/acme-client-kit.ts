/**
 * The npm acme-client driven step by step (so a test can name a profile or `replaces` on
 * newOrder, draft-ietf-acme-profiles / RFC 9773 §5): createOrder, http-01 answered through the
 * test responder, finalize with a CSR for a chosen key type, download. acme-client throws only a
 * problem's `detail`, so every problem document the server answers is recorded from its axios
 * instance and can be asserted by type and status.
 */
import https from 'node:https';
import acme from 'acme-client';
import type { Http01Responder } from './http01-responder.js';

/** A problem document (RFC 7807) the server answered with, as acme-client's HTTP layer saw it. */
export interface RecordedProblem {
  method: string;
  url: string;
  status: number;
  type: string;
  detail: string;
  subproblems: { type: string; detail: string; identifier: { type: string; value: string } }[];
}

/** Leaf key types the tests ask for, in the profile schema's names. */
export type LeafKeyType = 'ecdsa-p256' | 'ecdsa-p384' | 'rsa2048' | 'rsa3072';

/** A fresh PEM private key of `type`. */
export async function leafKey(type: LeafKeyType): Promise<Buffer> {
  switch (type) {
    case 'ecdsa-p256':
      return acme.crypto.createPrivateEcdsaKey('P-256');
    case 'ecdsa-p384':
      return acme.crypto.createPrivateEcdsaKey('P-384');
    case 'rsa2048':
      return acme.crypto.createPrivateRsaKey(2048);
    case 'rsa3072':
      return acme.crypto.createPrivateRsaKey(3072);
  }
}

/** A PEM CSR for `names` (CN = the first) signed by `key`. */
export async function csrFor(names: string[], key: Buffer): Promise<Buffer> {
  const [, csr] = await acme.crypto.createCsr({ commonName: names[0]!, altNames: names }, key);
  return csr;
}

/** The base64url DER of a PEM CSR, as finalize (RFC 8555 §7.4) carries it. */
export function csrBase64url(csrPem: Buffer | string): string {
  const b64 = csrPem.toString().replace(/-----(BEGIN|END) CERTIFICATE REQUEST-----/g, '').replace(/\s+/g, '');
  return Buffer.from(b64, 'base64').toString('base64url');
}

/** newOrder fields acme-client passes through but does not declare in its types. */
export interface OrderRequest {
  names: string[];
  profile?: unknown;
  replaces?: unknown;
}

/** An order as Anvil serves it: RFC 8555 plus `profile` (draft-ietf-acme-profiles) and `replaces` (RFC 9773 §5). */
export type ProfiledOrder = acme.Order & { profile?: string; replaces?: string };

/** What one issuance produced. */
export interface ClientIssued {
  order: ProfiledOrder;
  chain: string;
  key: Buffer;
}

export interface AcmeClientKit {
  client: acme.Client;
  problems: RecordedProblem[];
  /** newOrder (with `profile` / `replaces` as given), then http-01 for every pending authorization; returns the ready order. */
  readyOrder(request: OrderRequest): Promise<ProfiledOrder>;
  /** Finalizes a ready order with a CSR for `key` and downloads the chain once the order is valid. */
  finalize(order: ProfiledOrder, names: string[], key: Buffer): Promise<ClientIssued>;
  /** readyOrder + finalize with a fresh key of `keyType`. */
  issue(request: OrderRequest & { keyType: LeafKeyType }): Promise<ClientIssued>;
  /** Runs `action`, which must fail, and returns the last problem document the server answered during it. */
  expectProblem(what: string, action: () => Promise<unknown>): Promise<RecordedProblem>;
  /** Recent problems and acme-client log lines, for assertion messages. */
  context(): string;
}

let interceptorInstalled = false;
const recorded: RecordedProblem[] = [];
const clientLog: string[] = [];

/**
 * Points acme-client's (process-global) axios at a server trusting `rootPem` and turns off its
 * 5xx retries. The problem documents and log lines it returns are shared by the whole process.
 */
export function instrumentAcmeClient(rootPem: string): { problems: RecordedProblem[]; clientLog: string[] } {
  acme.axios.defaults.httpsAgent = new https.Agent({ ca: rootPem });
  acme.axios.defaults.proxy = false;
  // Fail fast instead of acme-client's 5 retries with growing 5 s delays on 5xx.
  const settings = (acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number; retryDefaultDelay: number } }).acmeSettings;
  settings.retryMaxAttempts = 1;
  settings.retryDefaultDelay = 1;
  if (!interceptorInstalled) {
    interceptorInstalled = true;
    acme.axios.interceptors.response.use((response) => {
      const body = response.data as { type?: unknown; detail?: unknown; subproblems?: unknown } | undefined;
      if (response.status >= 400 && body && typeof body.type === 'string') {
        recorded.push({
          method: String(response.config.method ?? '').toUpperCase(),
          url: String(response.config.url ?? ''),
          status: response.status,
          type: body.type,
          detail: typeof body.detail === 'string' ? body.detail : '',
          subproblems: Array.isArray(body.subproblems) ? (body.subproblems as RecordedProblem['subproblems']) : [],
        });
      }
      return response;
    });
    acme.setLogger((message) => {
      clientLog.push(message);
      if (clientLog.length > 300) clientLog.shift();
    });
  }
  return { problems: recorded, clientLog };
}

/** instrumentAcmeClient, and an account registered with a fresh P-256 key. */
export async function acmeClientKit(directoryUrl: string, rootPem: string, responder: Http01Responder): Promise<AcmeClientKit> {
  instrumentAcmeClient(rootPem);
  const client = new acme.Client({
    directoryUrl,
    accountKey: await acme.crypto.createPrivateEcdsaKey('P-256'),
    backoffAttempts: 60,
    backoffMin: 50,
    backoffMax: 500,
  });
  await client.createAccount({ termsOfServiceAgreed: true });

  const context = (): string =>
    [
      '--- problems answered by the server ---',
      ...recorded.slice(-8).map((p) => `${p.method} ${p.url} → ${p.status} ${p.type}: ${p.detail}`),
      '--- acme-client log (tail) ---',
      ...clientLog.slice(-30),
    ].join('\n');

  const readyOrder = async (request: OrderRequest): Promise<ProfiledOrder> => {
    const body: Record<string, unknown> = { identifiers: request.names.map((value) => ({ type: 'dns', value })) };
    if (request.profile !== undefined) body.profile = request.profile;
    if (request.replaces !== undefined) body.replaces = request.replaces;
    const order = await client.createOrder(body as never);
    for (const authz of await client.getAuthorizations(order)) {
      if (authz.status === 'valid') continue;
      const challenge = authz.challenges.find((c) => c.type === 'http-01');
      if (!challenge) throw new Error(`no http-01 challenge offered: ${JSON.stringify(authz)}`);
      responder.set(challenge.token, await client.getChallengeKeyAuthorization(challenge));
      await client.completeChallenge(challenge);
      await client.waitForValidStatus(challenge);
    }
    // waitForValidStatus returns the order body without acme-client's `url` member.
    const ready = await client.waitForValidStatus(order);
    return { ...ready, url: order.url };
  };

  const finalize = async (order: ProfiledOrder, names: string[], key: Buffer): Promise<ClientIssued> => {
    await client.finalizeOrder(order, await csrFor(names, key));
    let current = await client.getOrder(order);
    for (let i = 0; current.status === 'processing' && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 50));
      current = await client.getOrder(order);
    }
    if (current.status !== 'valid') throw new Error(`order is ${current.status} after finalize: ${JSON.stringify(current)}`);
    return { order: current, chain: await client.getCertificate(current), key };
  };

  return {
    client,
    problems: recorded,
    readyOrder,
    finalize,
    issue: async (request) => {
      const order = await readyOrder(request);
      return finalize(order, request.names, await leafKey(request.keyType));
    },
    expectProblem: async (what, action) => {
      const before = recorded.length;
      let threw: unknown;
      try {
        await action();
      } catch (error) {
        threw = error;
      }
      if (threw === undefined) throw new Error(`${what} must fail, but it succeeded\n${context()}`);
      const problem = recorded.slice(before).at(-1);
      if (!problem) throw new Error(`${what} failed without a problem document: ${(threw as Error).message}\n${context()}`);
      return problem;
    },
    context,
  };
}
