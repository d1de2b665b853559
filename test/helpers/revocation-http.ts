/**
 * HTTP for OCSP (RFC 6960 Appendix A, RFC 5019 §5) and CRL downloads in tests: raw requests over
 * plain HTTP (the revocation listener) or HTTPS (the ACME listener), binary bodies kept as bytes,
 * and the URLs written into a certificate (AIA OCSP, CRL Distribution Point).
 */
// @peculiar/x509 2.x needs a Reflect metadata polyfill loaded before it (its README).
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as never);

export interface BinaryResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface BinaryRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Trust for https URLs. */
  ca?: string;
  timeoutMs?: number;
}

/** One request with its own connection; resolves with status, headers and the raw body. */
export function binaryRequest(url: string, o: BinaryRequestOptions = {}): Promise<BinaryResponse> {
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { method: o.method ?? 'GET', headers: o.headers, agent: false, ...(o.ca ? { ca: o.ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(o.timeoutMs ?? 10_000, () => req.destroy(new Error(`timeout: ${o.method ?? 'GET'} ${url}`)));
    if (o.body !== undefined) req.write(o.body);
    req.end();
  });
}

/** POST an OCSP request (RFC 6960 A.1) to `url`. */
export function ocspPost(url: string, der: Uint8Array, ca?: string): Promise<BinaryResponse> {
  return binaryRequest(url, { method: 'POST', headers: { 'Content-Type': 'application/ocsp-request' }, body: der, ...(ca ? { ca } : {}) });
}

/** The GET form (RFC 6960 A.1, RFC 5019 §5): `<url>/<url-encoded base64 DER>`. */
export function ocspGetUrl(url: string, der: Uint8Array): string {
  return `${url.replace(/\/$/, '')}/${encodeURIComponent(Buffer.from(der).toString('base64'))}`;
}

export function ocspGet(url: string, der: Uint8Array, ca?: string): Promise<BinaryResponse> {
  return binaryRequest(ocspGetUrl(url, der), ca ? { ca } : {});
}

/** The media type of a response without parameters. */
export function mediaTypeOf(res: BinaryResponse): string {
  return String(res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

export interface RevocationUrls {
  /** The AIA id-ad-ocsp URL. */
  ocsp: string;
  /** The CRL Distribution Point URL (the certificate's shard). */
  crl: string;
  /** `<issuer>` and `<shard>` of `/crl/<issuer>/<shard>.crl`. */
  issuerId: string;
  shard: number;
  /** `/crl/<issuer>/full.crl` next to the shard. */
  fullCrl: string;
}

/** The OCSP and CRL URLs of a PEM certificate; throws when either is missing. */
export function revocationUrlsOf(pem: string): RevocationUrls {
  const cert = new x509.X509Certificate(pem);
  const aia = cert.getExtension(x509.AuthorityInfoAccessExtension);
  const ocsp = aia?.ocsp.find((g) => g.type === 'url')?.value;
  const cdp = cert.getExtension(x509.CRLDistributionPointsExtension);
  const crl = cdp?.distributionPoints[0]?.distributionPoint?.fullName?.[0]?.uniformResourceIdentifier;
  if (!ocsp || !crl) throw new Error(`certificate lacks an OCSP URL or a CRL Distribution Point (ocsp=${ocsp}, crl=${crl})`);
  const m = /\/crl\/([^/]+)\/(\d+)\.crl$/.exec(crl);
  if (!m) throw new Error(`CRL Distribution Point ${crl} is not /crl/<issuer>/<shard>.crl`);
  return { ocsp, crl, issuerId: m[1]!, shard: Number(m[2]), fullCrl: crl.replace(/\/\d+\.crl$/, '/full.crl') };
}

/** The subjectKeyIdentifier of a PEM certificate, lowercase hex. */
export function subjectKeyIdOf(pem: string): string {
  const ski = new x509.X509Certificate(pem).getExtension(x509.SubjectKeyIdentifierExtension);
  if (!ski) throw new Error('certificate has no subjectKeyIdentifier');
  return ski.keyId.toLowerCase();
}

/** DER to PEM with the given label. */
export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The RFC 5019 §6.2 caching headers of an OCSP GET answer, checked against the response's
 * thisUpdate/nextUpdate. Returns the problems found (empty when all is well), so a test can
 * report every one at once.
 */
export function ocspCacheHeaderProblems(res: BinaryResponse, thisUpdate: Date, nextUpdate: Date, now = Date.now()): string[] {
  const problems: string[] = [];
  const h = (name: string): string => {
    const v = res.headers[name];
    return Array.isArray(v) ? v.join(', ') : (v ?? '');
  };
  const cacheControl = h('cache-control');
  const directives = cacheControl.split(',').map((d) => d.trim().toLowerCase());
  for (const d of ['public', 'no-transform', 'must-revalidate']) {
    if (!directives.includes(d)) problems.push(`Cache-Control "${cacheControl}" lacks ${d}`);
  }
  const maxAge = directives.map((d) => /^max-age=(\d+)$/.exec(d)?.[1]).find((v) => v !== undefined);
  if (maxAge === undefined) {
    problems.push(`Cache-Control "${cacheControl}" lacks max-age`);
  } else {
    const seconds = Number(maxAge);
    const untilNext = (nextUpdate.getTime() - now) / 1000;
    // "later than thisUpdate but earlier than nextUpdate": the cache must not outlive nextUpdate.
    if (seconds > untilNext + 2) problems.push(`max-age=${seconds} outlives nextUpdate (${untilNext.toFixed(0)} s away)`);
    if (seconds < untilNext - 60) problems.push(`max-age=${seconds} is far shorter than the ${untilNext.toFixed(0)} s left until nextUpdate`);
    if (seconds <= 0) problems.push(`max-age=${seconds} is not positive`);
  }
  const lastModified = Date.parse(h('last-modified'));
  if (Number.isNaN(lastModified)) problems.push(`Last-Modified "${h('last-modified')}" is not an HTTP date`);
  else if (lastModified !== thisUpdate.getTime()) problems.push(`Last-Modified ${new Date(lastModified).toISOString()} is not thisUpdate ${thisUpdate.toISOString()}`);
  const expires = Date.parse(h('expires'));
  if (Number.isNaN(expires)) problems.push(`Expires "${h('expires')}" is not an HTTP date`);
  else if (expires !== nextUpdate.getTime()) problems.push(`Expires ${new Date(expires).toISOString()} is not nextUpdate ${nextUpdate.toISOString()}`);
  if (!/^(W\/)?"[^"]+"$/.test(h('etag'))) problems.push(`ETag "${h('etag')}" is missing or not a quoted entity tag`);
  return problems;
}
