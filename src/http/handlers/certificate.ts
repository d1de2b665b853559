/** Certificate download (RFC 8555 §7.4.2) and revokeCert (§7.6). */
import type { RequestHandler } from 'express';
import { problems } from '../../acme/problem.js';
import { derToPem } from '../../ca/certificate-builder.js';
import type { HttpContext } from '../context.js';
import { verifiedRequest } from '../middleware/authenticate.js';

export function downloadCertificate(ctx: HttpContext): RequestHandler {
  return async (req, res) => {
    const id = typeof req.params.id === 'string' ? req.params.id : '';
    const cert = id ? await ctx.store.getCertificate(id) : null;
    if (!cert) throw problems.notFound('certificate');
    const v = verifiedRequest(res);
    if (cert.accountId !== v.account!.id) throw problems.unauthorized('this certificate belongs to another account');
    if (v.payload !== undefined) throw problems.malformed('a certificate is downloaded with POST-as-GET (empty payload)');
    // A Buffer body keeps express from appending a charset to the media type.
    res.status(200).type('application/pem-certificate-chain').send(Buffer.from(derToPem(cert.der) + cert.chainPem));
  };
}

export function revokeCertificate(ctx: HttpContext): RequestHandler {
  return async (_req, res) => {
    const record = await ctx.revocation.revoke(verifiedRequest(res));
    ctx.log.info({ serial: record.serial, reason: record.revocationReason }, 'certificate revoked');
    res.status(200).end();
  };
}
