/** GET /directory (RFC 8555 §7.1.1) and newNonce (§7.2). */
import type { RequestHandler } from 'express';
import type { HttpContext } from '../context.js';

export function directory(ctx: HttpContext): RequestHandler {
  return (_req, res) => {
    const meta = ctx.directoryMeta();
    const l = ctx.links;
    res.json({
      newNonce: l.newNonce(),
      newAccount: l.newAccount(),
      newOrder: l.newOrder(),
      revokeCert: l.revokeCert(),
      keyChange: l.keyChange(),
      renewalInfo: l.renewalInfo(),
      meta: {
        ...(meta.termsOfService ? { termsOfService: meta.termsOfService } : {}),
        ...(meta.website ? { website: meta.website } : {}),
        externalAccountRequired: meta.externalAccountRequired,
        caaIdentities: meta.caaIdentities,
        issuerDomainNames: meta.issuerDomainNames,
        accountHashPrefix: meta.accountHashPrefix,
        profiles: meta.profiles,
      },
    });
  };
}

/** §7.2: HEAD answers 200, GET 204; the nonce itself is in Replay-Nonce (set for every response). */
export function newNonce(status: 200 | 204): RequestHandler {
  return (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.status(status).end();
  };
}

/**
 * The trust bundle for CI/CD and agents: roots to trust (old and new during a root rotation) and
 * the issuers in service, with a version that grows on every change. JSON, or PEM of the roots.
 */
export function trustBundle(ctx: HttpContext, format: 'json' | 'pem'): RequestHandler {
  return (req, res) => {
    const bundle = ctx.trustBundle();
    const etag = `"bundle-${bundle.version}"`;
    res.setHeader('ETag', etag);
    res.setHeader('Cache-Control', 'max-age=60');
    if (req.headers['if-none-match'] === etag) {
      res.status(304).end();
      return;
    }
    if (format === 'pem') {
      res.setHeader('Anvil-Bundle-Version', String(bundle.version));
      res.status(200).type('application/pem-certificate-chain').send(Buffer.from(bundle.roots.map((r) => r.pem).join('')));
      return;
    }
    res.json(bundle);
  };
}
