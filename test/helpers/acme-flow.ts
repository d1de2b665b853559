/**
 * Building blocks for integration tests that walk an order: unique names, CSRs, polling,
 * answering http-01 through the test responder, and a full issuance. Built on RawAcme, so every
 * step is an ordinary signed request the test can inspect.
 */
// @peculiar/x509 2.x needs a Reflect metadata polyfill loaded before it (its README).
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { newAccountKey, type AccountKey, type HttpResponse, type RawAcme } from './raw-acme.js';
import type { Http01Responder } from './http01-responder.js';

x509.cryptoProvider.set(webcrypto as never);

export interface Identifier {
  type: string;
  value: string;
}

/** A DNS name no other test uses (the test DNS server answers every name with 127.0.0.1). */
export function uniqueName(prefix = 'n'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}.test`;
}

export const dns = (...names: string[]): Identifier[] => names.map((value) => ({ type: 'dns', value }));

/** POST-as-GET (§6.3): a signed POST with an empty payload. */
export const postAsGet = (acme: RawAcme, url: string): Promise<HttpResponse> => acme.post(url, undefined);

export async function newOrder(acme: RawAcme, identifiers: Identifier[], extra: Record<string, unknown> = {}): Promise<HttpResponse> {
  return acme.post(acme.directory.newOrder, { identifiers, ...extra });
}

/** POST-as-GET `url` until `done(body)` holds; returns the last response. */
export async function poll(acme: RawAcme, url: string, done: (body: any) => boolean, timeoutMs = 10_000): Promise<HttpResponse> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await postAsGet(acme, url);
    if (res.status !== 200 || done(res.json)) return res;
    if (Date.now() > deadline) throw new Error(`timed out polling ${url}; last: ${res.body}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Polls an authorization or order until it leaves pending/processing. */
export const pollSettled = (acme: RawAcme, url: string): Promise<HttpResponse> =>
  poll(acme, url, (b) => b.status !== 'pending' && b.status !== 'processing');

/** The http-01 challenge of an authorization body. */
export function http01Of(authz: any): { url: string; token: string; status: string } {
  const challenge = (authz.challenges as any[]).find((c) => c.type === 'http-01');
  if (!challenge) throw new Error(`no http-01 challenge in ${JSON.stringify(authz)}`);
  return challenge;
}

/** token || '.' || thumbprint of the account key (§8.1). */
export async function keyAuthorization(acme: RawAcme, token: string): Promise<string> {
  return `${token}.${await acme.thumbprint()}`;
}

/**
 * Puts the right key authorization in the responder, POSTs `{}` to the http-01 challenge and
 * returns that response (the authorization settles later; poll it).
 */
export async function answerHttp01(acme: RawAcme, responder: Http01Responder, authzUrl: string): Promise<HttpResponse> {
  const authz = (await postAsGet(acme, authzUrl)).json;
  const challenge = http01Of(authz);
  responder.set(challenge.token, await keyAuthorization(acme, challenge.token));
  return acme.post(challenge.url, {});
}

/** Creates an order and validates every authorization; returns the order once it is ready. */
export async function readyOrder(acme: RawAcme, responder: Http01Responder, identifiers: Identifier[]): Promise<{ url: string; order: any }> {
  const created = await newOrder(acme, identifiers);
  if (created.status !== 201) throw new Error(`newOrder failed: ${created.status} ${created.body}`);
  const url = String(created.headers.location);
  for (const authzUrl of created.json.authorizations as string[]) {
    const authz = (await postAsGet(acme, authzUrl)).json;
    if (authz.status === 'valid') continue;
    await answerHttp01(acme, responder, authzUrl);
    const settled = await pollSettled(acme, authzUrl);
    if (settled.json.status !== 'valid') throw new Error(`authorization did not become valid: ${settled.body}`);
  }
  const order = await poll(acme, url, (b) => b.status !== 'pending');
  if (order.json.status !== 'ready') throw new Error(`order is not ready: ${order.body}`);
  return { url, order: order.json };
}

/** Imports an EC AccountKey (ES256/ES384) into WebCrypto, for signing CSRs with it. */
export async function cryptoKeyPair(key: AccountKey): Promise<webcrypto.CryptoKeyPair> {
  const namedCurve = key.alg === 'ES384' ? 'P-384' : 'P-256';
  if (key.alg !== 'ES256' && key.alg !== 'ES384') throw new Error(`cryptoKeyPair supports EC keys only, not ${key.alg}`);
  const algorithm = { name: 'ECDSA', namedCurve };
  const privateJwk = key.privateKey.export({ format: 'jwk' });
  const privateKey = await webcrypto.subtle.importKey('jwk', privateJwk, algorithm, true, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('jwk', key.jwk as webcrypto.JsonWebKey, algorithm, true, ['verify']);
  return { privateKey, publicKey };
}

/**
 * A base64url DER PKCS#10 CSR for `names` (dns) and `ips`, CN = the first name, signed by `key`
 * (a fresh P-256 key by default, returned so tests can use it, e.g. to revoke).
 */
export async function makeCsr(
  names: string[],
  options: { ips?: string[]; key?: AccountKey; commonName?: string } = {},
): Promise<{ csr: string; key: AccountKey }> {
  const key = options.key ?? newAccountKey('ES256');
  const keys = await cryptoKeyPair(key);
  const sans: x509.JsonGeneralName[] = [
    ...names.map((value) => ({ type: 'dns' as const, value })),
    ...(options.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const cn = options.commonName ?? names[0] ?? options.ips?.[0] ?? 'unnamed';
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${cn}`,
    keys: keys as never,
    signingAlgorithm: { name: 'ECDSA', hash: key.alg === 'ES384' ? 'SHA-384' : 'SHA-256' },
    extensions: [new x509.SubjectAlternativeNameExtension(sans)],
  });
  return { csr: Buffer.from(request.rawData).toString('base64url'), key };
}

/** The PEM blocks of a chain, in order. */
export function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** The base64url DER of a PEM certificate, as revokeCert wants it (§7.6). */
export function pemToBase64url(pem: string): string {
  const b64 = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return Buffer.from(b64, 'base64').toString('base64url');
}

export interface Issued {
  orderUrl: string;
  order: any;
  certificateUrl: string;
  chainPem: string;
  /** The leaf's key (the CSR key). */
  key: AccountKey;
}

/** Finalizes the ready order at `url` with `csr`, waits for it to be valid and downloads the chain. */
export async function finalizeOrder(acme: RawAcme, url: string, order: any, csr: string): Promise<{ order: any; chainPem: string }> {
  const finalized = await acme.post(order.finalize, { csr });
  if (finalized.status !== 200) throw new Error(`finalize failed: ${finalized.status} ${finalized.body}`);
  const valid = await poll(acme, url, (b) => b.status !== 'processing' && b.status !== 'ready');
  if (valid.json.status !== 'valid') throw new Error(`order did not become valid: ${valid.body}`);
  const cert = await postAsGet(acme, valid.json.certificate);
  if (cert.status !== 200) throw new Error(`certificate download failed: ${cert.status} ${cert.body}`);
  return { order: valid.json, chainPem: cert.body };
}

/** The whole flow: order, http-01 for every name, finalize with a fresh key, download. */
export async function issue(acme: RawAcme, responder: Http01Responder, names: string[]): Promise<Issued> {
  const { url, order } = await readyOrder(acme, responder, dns(...names));
  const { csr, key } = await makeCsr(names);
  const valid = await finalizeOrder(acme, url, order, csr);
  return { orderUrl: url, order: valid.order, certificateUrl: valid.order.certificate, chainPem: valid.chainPem, key };
}

/** The base64url DER of a self-signed certificate for `name`: one this CA never issued. */
export async function foreignCertificate(name: string): Promise<string> {
  const keys = await cryptoKeyPair(newAccountKey('ES256'));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: `01${randomBytes(8).toString('hex')}`,
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys: keys as never,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: name }])],
  });
  return Buffer.from(cert.rawData).toString('base64url');
}
