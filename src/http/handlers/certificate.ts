/** Certificate download (RFC 8555 §7.4.2) and revokeCert (§7.6). */
import type { RequestHandler } from 'express';
import { problems } from '../../acme/problem.js';
import { derToPem } from '../../ca/certificate-builder.js';
import type { HttpContext } from '../context.js';
import { addLink } from '../middleware/acme-headers.js';
import { verifiedRequest } from '../middleware/authenticate.js';

/**
 * The certificate with its default chain, or (`/cert/<id>/<n>`) its n-th alternate chain; each
 * response links the other chains with `Link: rel="alternate"` (§7.4.2), so clients such as
 * `certbot --preferred-chain` can choose by the root.
 */
export function downloadCertificate(ctx: HttpContext): RequestHandler {
  return async (req, res) => {
    const id = typeof req.params.id === 'string' ? req.params.id : '';
    const cert = id ? await ctx.store.getCertificate(id) : null;
    if (!cert) throw problems.notFound('certificate');
    const v = verifiedRequest(res);
    if (cert.accountId !== v.account!.id) throw problems.unauthorized('this certificate belongs to another account');
    if (v.payload !== undefined) throw problems.malformed('a certificate is downloaded with POST-as-GET (empty payload)');
    const alternates = ctx.alternateChains(cert.issuerId);
    const chains = [cert.chainPem, ...alternates];
    const which = req.params.alt === undefined ? 0 : /^[1-9]\d{0,2}$/.test(String(req.params.alt)) ? Number(req.params.alt) : -1;
    if (which < 0 || which >= chains.length) throw problems.notFound('certificate chain');
    chains.forEach((_, n) => {
      if (n !== which) addLink(res, `<${n === 0 ? ctx.links.certificate(cert.id) : ctx.links.certificateAlternate(cert.id, n)}>;rel="alternate"`);
    });
    // A Buffer body keeps express from appending a charset to the media type.
    res.status(200).type('application/pem-certificate-chain').send(Buffer.from(derToPem(cert.der) + chains[which]));
  };
}

export function revokeCertificate(ctx: HttpContext): RequestHandler {
  return async (_req, res) => {
    const record = await ctx.revocation.revoke(verifiedRequest(res));
    ctx.log.info({ serial: record.serial, reason: record.revocationReason }, 'certificate revoked');
    res.status(200).end();
  };
}
