/**
 * OCSP (RFC 6960 Appendix A, RFC 5019 §5–6) and CRL download over HTTP. These are not ACME
 * resources: errors are OCSP responses (or plain HTTP statuses for CRLs), never problem documents.
 *
 * A thin handler on node:http rather than an express router: a pre-signed OCSP answer is a
 * memory read and a point lookup, and express's routing and body parsing cost more than that.
 * The one handler serves both the revocation listener and the ACME listener (as middleware), so
 * hostile input is handled in one place.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { REVOCATION_PATHS } from '../acme/links.js';
import type { Issuer } from '../ca/issuer.js';
import type { CrlService } from '../revocation/crl-service.js';
import { OCSPResponseStatus, ocspErrorResponse } from '../revocation/ocsp-messages.js';
import type { OcspAnswer, OcspService } from '../revocation/ocsp-service.js';
import { metrics } from '../ops/metrics.js';
import { BodyTooLargeError, readBounded } from './read-bounded.js';
import { StoreUnavailableError } from '../store/errors.js';
import { FULL_CRL } from '../store/types.js';

export interface RevocationHttpContext {
  ocsp: OcspService;
  crl: CrlService;
  issuer(id: string): Issuer | undefined;
  crlShards: number;
  log: Logger;
}

/** Answers a revocation request, or returns false when the request is not one (the caller goes on). */
export type RevocationHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** A GET request is small (RFC 5019 §5: under 255 bytes is typical); POST bodies are bounded too. */
const MAX_OCSP_REQUEST_BYTES = 8192;
const CRL_MAX_AGE_SECONDS = 60;
const OCSP_PREFIX = `${REVOCATION_PATHS.ocsp}/`;
const CRL_PREFIX = '/crl/';
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

class ClientFault extends Error {}

// prom-client resolves label values on every inc(); the few (method, outcome) pairs are kept.
const ocspCounters = new Map<string, { inc(): void }>();
function countOcsp(method: string, outcome: string): void {
  const key = `${method} ${outcome}`;
  let c = ocspCounters.get(key);
  if (!c) ocspCounters.set(key, (c = metrics.ocspRequests.labels({ method, outcome })));
  c.inc();
}

function sendOcsp(req: IncomingMessage, res: ServerResponse, answer: OcspAnswer, cacheable: boolean): void {
  countOcsp(req.method ?? 'GET', answer.outcome);
  if (answer.cache) metrics.ocspResponseAge.observe(Math.max(0, (Date.now() - answer.cache.thisUpdate.getTime()) / 1000));
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/ocsp-response');
  if (cacheable && answer.cache) {
    const maxAge = Math.max(0, Math.floor((answer.cache.nextUpdate.getTime() - Date.now()) / 1000));
    res.setHeader('Cache-Control', `max-age=${maxAge}, public, no-transform, must-revalidate`);
    res.setHeader('Last-Modified', answer.cache.thisUpdate.toUTCString());
    res.setHeader('Expires', answer.cache.nextUpdate.toUTCString());
    res.setHeader('ETag', answer.cache.etag ?? `"${createHash('sha256').update(answer.der).digest('hex')}"`);
  } else {
    res.setHeader('Cache-Control', 'no-store');
  }
  res.end(answer.der);
}

function sendOcspError(req: IncomingMessage, res: ServerResponse, status: OCSPResponseStatus): void {
  sendOcsp(req, res, { der: ocspErrorResponse(status), outcome: OCSPResponseStatus[status] ?? 'error' }, false);
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.end(text);
}

/** The request body, at most `limit` bytes; a larger or encoded body is the client's fault. */
function readBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<Buffer> {
  const encoding = req.headers['content-encoding'];
  const declared = req.headers['content-length'] === undefined ? 0 : Number(req.headers['content-length']);
  if ((encoding !== undefined && encoding.toLowerCase() !== 'identity') || declared > limit) {
    // The rest of the body is not worth reading: the connection closes after the answer.
    res.shouldKeepAlive = false;
    return Promise.reject(new ClientFault('request body too large or encoded'));
  }
  const stop = (): void => {
    res.shouldKeepAlive = false;
    req.pause();
  };
  return readBounded(req, limit, stop).catch((e: unknown) => {
    throw e instanceof BodyTooLargeError ? new ClientFault('request body too large') : e;
  });
}

export function revocationHandler(ctx: RevocationHttpContext): RevocationHandler {
  const fail = (req: IncomingMessage, res: ServerResponse, path: string, err: unknown): void => {
    if (res.headersSent) return void res.destroy();
    const isOcsp = path === REVOCATION_PATHS.ocsp || path.startsWith(OCSP_PREFIX);
    if (err instanceof StoreUnavailableError) {
      // RFC 6960 §2.3 tryLater; a CRL fetcher keeps the copy it has until this passes.
      ctx.log.warn({ err: err.message, path }, 'store unavailable');
      if (isOcsp) return sendOcspError(req, res, OCSPResponseStatus.tryLater);
      return sendText(res, 503, 'the certificate store is unreachable for now; try again shortly\n', { 'Retry-After': '5' });
    }
    // Client faults (oversize body, undecodable path) are malformedRequest, not internal errors.
    const clientFault = err instanceof ClientFault || err instanceof URIError;
    if (!clientFault) ctx.log.error({ err: (err as Error)?.message, path }, 'revocation endpoint failed');
    if (isOcsp) sendOcspError(req, res, clientFault ? OCSPResponseStatus.malformedRequest : OCSPResponseStatus.internalError);
    else sendText(res, clientFault ? 400 : 500, clientFault ? 'bad request\n' : 'internal error\n');
  };

  const ocspPost = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req, res, MAX_OCSP_REQUEST_BYTES);
    if (body.length === 0) return sendOcspError(req, res, OCSPResponseStatus.malformedRequest);
    sendOcsp(req, res, await ctx.ocsp.answer(body), false);
  };

  const ocspGet = async (req: IncomingMessage, res: ServerResponse, url: string) => {
    // The whole rest of the URL, query included: a query is not base64 and is refused.
    const b64 = decodeURIComponent(url.slice(OCSP_PREFIX.length));
    if (b64.length === 0 || b64.length > MAX_OCSP_REQUEST_BYTES * 2 || !BASE64.test(b64)) {
      return sendOcspError(req, res, OCSPResponseStatus.malformedRequest);
    }
    sendOcsp(req, res, await ctx.ocsp.answer(Buffer.from(b64, 'base64')), true);
  };

  const crlGet = async (res: ServerResponse, path: string) => {
    const parts = path.slice(CRL_PREFIX.length).split('/');
    const issuer = parts.length === 2 ? ctx.issuer(decodeURIComponent(parts[0]!)) : undefined;
    const m = parts.length === 2 ? /^(full|\d{1,5})\.crl$/.exec(decodeURIComponent(parts[1]!)) : null;
    const shard = m ? (m[1] === 'full' ? FULL_CRL : Number(m[1])) : undefined;
    if (!issuer || shard === undefined || shard >= ctx.crlShards) return sendText(res, 404, 'no such CRL\n');
    const crl = await ctx.crl.get(issuer, shard);
    metrics.crlRequests.inc({ kind: shard === FULL_CRL ? 'full' : 'shard' });
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/pkix-crl');
    res.setHeader('Last-Modified', crl.thisUpdate.toUTCString());
    res.setHeader('Cache-Control', `max-age=${CRL_MAX_AGE_SECONDS}, public, no-transform`);
    res.end(crl.der);
  };

  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const read = req.method === 'GET' || req.method === 'HEAD';
    let work: Promise<void>;
    if (path === REVOCATION_PATHS.ocsp && req.method === 'POST') work = ocspPost(req, res);
    else if (read && (path === REVOCATION_PATHS.ocsp || path === OCSP_PREFIX)) work = Promise.resolve(sendOcspError(req, res, OCSPResponseStatus.malformedRequest));
    else if (read && path.startsWith(OCSP_PREFIX)) work = ocspGet(req, res, url);
    else if (read && path.startsWith(CRL_PREFIX) && path.length > CRL_PREFIX.length) work = crlGet(res, path);
    else return false;
    work.catch((err: unknown) => fail(req, res, path, err));
    return true;
  };
}

/** The plain-HTTP revocation listener: OCSP and CRLs, and 404 for anything else. */
export function revocationListener(handle: RevocationHandler): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (!handle(req, res)) sendText(res, 404, 'not found\n');
  };
}
