/**
 * OCSP (RFC 6960 Appendix A, RFC 5019 §5–6) and CRL download over HTTP. These are not ACME
 * resources: errors are OCSP responses (or plain HTTP statuses for CRLs), never problem documents.
 */
import { createHash } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import { REVOCATION_PATHS } from '../acme/links.js';
import type { Issuer } from '../ca/issuer.js';
import type { CrlService } from '../revocation/crl-service.js';
import { OCSPResponseStatus, ocspErrorResponse } from '../revocation/ocsp-messages.js';
import type { OcspAnswer, OcspService } from '../revocation/ocsp-service.js';
import { metrics } from '../ops/metrics.js';
import { StoreUnavailableError } from '../store/errors.js';
import { FULL_CRL } from '../store/types.js';

export interface RevocationHttpContext {
  ocsp: OcspService;
  crl: CrlService;
  issuer(id: string): Issuer | undefined;
  crlShards: number;
  log: Logger;
}

/** A GET request is small (RFC 5019 §5: under 255 bytes is typical); POST bodies are bounded too. */
const MAX_OCSP_REQUEST_BYTES = 8192;
const CRL_MAX_AGE_SECONDS = 60;

function sendOcsp(res: Response, answer: OcspAnswer, cacheable: boolean): void {
  metrics.ocspRequests.inc({ method: res.req.method, outcome: answer.outcome });
  if (answer.cache) metrics.ocspResponseAge.observe(Math.max(0, (Date.now() - answer.cache.thisUpdate.getTime()) / 1000));
  res.status(200).type('application/ocsp-response');
  if (cacheable && answer.cache) {
    const maxAge = Math.max(0, Math.floor((answer.cache.nextUpdate.getTime() - Date.now()) / 1000));
    res.setHeader('Cache-Control', `max-age=${maxAge}, public, no-transform, must-revalidate`);
    res.setHeader('Last-Modified', answer.cache.thisUpdate.toUTCString());
    res.setHeader('Expires', answer.cache.nextUpdate.toUTCString());
    res.setHeader('ETag', answer.cache.etag ?? `"${createHash('sha256').update(answer.der).digest('hex')}"`);
  } else {
    res.setHeader('Cache-Control', 'no-store');
  }
  res.end(Buffer.from(answer.der));
}

function sendOcspError(res: Response, status: OCSPResponseStatus): void {
  sendOcsp(res, { der: ocspErrorResponse(status), outcome: OCSPResponseStatus[status] ?? 'error' }, false);
}

export function revocationRoutes(ctx: RevocationHttpContext): Router {
  const r = express.Router({ caseSensitive: true, strict: true });

  r.post(REVOCATION_PATHS.ocsp, express.raw({ type: () => true, limit: MAX_OCSP_REQUEST_BYTES }), async (req, res) => {
    if (!Buffer.isBuffer(req.body) || req.body.length === 0) return sendOcspError(res, OCSPResponseStatus.malformedRequest);
    sendOcsp(res, await ctx.ocsp.answer(new Uint8Array(req.body)), false);
  });

  r.get(REVOCATION_PATHS.ocspGet, async (req, res) => {
    const encoded = req.originalUrl.slice(REVOCATION_PATHS.ocsp.length + 1);
    let b64: string;
    try {
      b64 = decodeURIComponent(encoded);
    } catch {
      return sendOcspError(res, OCSPResponseStatus.malformedRequest);
    }
    if (b64.length === 0 || b64.length > MAX_OCSP_REQUEST_BYTES * 2 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(b64)) {
      return sendOcspError(res, OCSPResponseStatus.malformedRequest);
    }
    sendOcsp(res, await ctx.ocsp.answer(new Uint8Array(Buffer.from(b64, 'base64'))), true);
  });

  r.get([REVOCATION_PATHS.ocsp, `${REVOCATION_PATHS.ocsp}/`], (_req, res) => sendOcspError(res, OCSPResponseStatus.malformedRequest));

  r.get(REVOCATION_PATHS.crl, async (req, res) => {
    const issuer = ctx.issuer(String(req.params.issuer));
    const m = /^(full|\d{1,5})\.crl$/.exec(String(req.params.file));
    const shard = m ? (m[1] === 'full' ? FULL_CRL : Number(m[1])) : undefined;
    if (!issuer || shard === undefined || shard >= ctx.crlShards) {
      res.status(404).type('text/plain').send('no such CRL\n');
      return;
    }
    const crl = await ctx.crl.get(issuer, shard);
    metrics.crlRequests.inc({ kind: shard === FULL_CRL ? 'full' : 'shard' });
    res.status(200).type('application/pkix-crl');
    res.setHeader('Last-Modified', crl.thisUpdate.toUTCString());
    res.setHeader('Cache-Control', `max-age=${CRL_MAX_AGE_SECONDS}, public, no-transform`);
    res.end(Buffer.from(crl.der));
  });

  // Errors on these routes must not become ACME problem documents.
  r.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    // Client faults (oversize body, undecodable path) are malformedRequest, not internal errors.
    const status = (err as { status?: number }).status;
    const clientFault = err instanceof URIError || (typeof status === 'number' && status >= 400 && status < 500);
    if (err instanceof StoreUnavailableError) {
      // RFC 6960 §2.3 tryLater; a CRL fetcher keeps the copy it has until this passes.
      ctx.log.warn({ err: err.message, path: req.path }, 'store unavailable');
      if (req.path.startsWith(REVOCATION_PATHS.ocsp)) return sendOcspError(res, OCSPResponseStatus.tryLater);
      return void res.status(503).setHeader('Retry-After', '5').type('text/plain').send('the certificate store is unreachable for now; try again shortly\n');
    }
    if (!clientFault) ctx.log.error({ err: (err as Error)?.message, path: req.path }, 'revocation endpoint failed');
    if (req.path.startsWith(REVOCATION_PATHS.ocsp)) {
      sendOcspError(res, clientFault ? OCSPResponseStatus.malformedRequest : OCSPResponseStatus.internalError);
    } else {
      res.status(clientFault ? 400 : 500).type('text/plain').send(clientFault ? 'bad request\n' : 'internal error\n');
    }
  });
  return r;
}
