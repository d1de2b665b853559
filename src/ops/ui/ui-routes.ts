/**
 * The operator dashboard on the admin listener: the bundled page at /ui/ (built by `npm run build`
 * into dist/ui, nothing loaded from elsewhere) under a strict Content-Security-Policy, and sign-in
 * with an admin token that opens a cookie session (sessions.ts). Every read and action of the page
 * is an ordinary admin API call, authorised by the token's role on the server.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { hashToken, permissionsOf, type AdminContext } from '../admin-api.js';
import { CSRF_HEADER, SESSION_COOKIE, cookieValue, type SessionSealer } from './sessions.js';

/** Where `npm run build` writes the bundle: dist/ui, beside dist/src. */
const UI_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'ui');

/** No inline script or style, nothing from another origin, no framing, no form posts elsewhere. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Content-Security-Policy', DASHBOARD_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  next();
}

/** The dashboard's routes; mounted before the admin API, whose authentication covers everything after it. */
export function uiRoutes(ctx: AdminContext & { sessions: SessionSealer }): Router {
  const r = express.Router();
  const sessions = ctx.sessions;
  r.use('/ui', securityHeaders);
  // Express matches /ui and /ui/ alike; only the bare one redirects.
  r.get('/ui', (req, res, next) => (req.originalUrl.split('?')[0] === '/ui' ? res.redirect(301, '/ui/') : next()));

  const sameOrigin = (req: Request) => req.headers.origin === undefined || req.headers.origin === `http://${req.headers.host}`;
  const cookieOptions = { httpOnly: true, sameSite: 'strict' as const, path: '/' };

  r.post('/ui/api/session', express.json({ limit: '4kb' }), async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    const token = (req.body as { token?: unknown } | undefined)?.token;
    if (!req.is('application/json') || !sameOrigin(req) || typeof token !== 'string' || token.length > 200) {
      res.status(400).json({ error: 'sign in with {"token": "<admin token>"} from the dashboard page' });
      return;
    }
    const found = await ctx.store.findAdminToken(hashToken(token.trim()));
    if (!found || found.revokedAt) {
      if (found) await ctx.store.appendAudit({ actor: `admin:${found.name}`, action: 'admin.refused', subject: 'POST /ui/api/session', data: { reason: 'token revoked' } });
      else ctx.log.warn({ ip: req.ip }, 'dashboard sign-in with an unknown token refused');
      res.status(401).json({ error: 'that is not a valid admin token' });
      return;
    }
    const { cookie, session } = sessions.open(hashToken(token.trim()));
    await ctx.store.appendAudit({ actor: `admin:${found.name}`, action: 'admin.session.opened', subject: 'dashboard', data: { role: found.role, expiresAt: session.expiresAt.toISOString() } });
    res.cookie(SESSION_COOKIE, cookie, { ...cookieOptions, maxAge: sessions.lifetimeMs });
    res.json({ name: found.name, role: found.role, permissions: permissionsOf(found.role), csrf: session.csrf, expiresAt: session.expiresAt.toISOString() });
  });

  const current = async (req: Request) => {
    const c = cookieValue(req.headers.cookie, SESSION_COOKIE);
    const session = c === undefined ? null : sessions.read(c);
    const admin = session ? await ctx.store.findAdminToken(session.tokenSha256) : null;
    return session && admin && !admin.revokedAt ? { session, admin } : null;
  };

  r.get('/ui/api/session', async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    const s = await current(req);
    if (!s) {
      res.status(401).json({ error: 'not signed in' });
      return;
    }
    res.json({ name: s.admin.name, role: s.admin.role, permissions: permissionsOf(s.admin.role), csrf: s.session.csrf, expiresAt: s.session.expiresAt.toISOString() });
  });

  r.delete('/ui/api/session', async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    const s = await current(req);
    if (s && (!sessions.csrfMatches(s.session, req.get(CSRF_HEADER)) || !sameOrigin(req))) {
      res.status(403).json({ error: 'CSRF check failed' });
      return;
    }
    if (s) await ctx.store.appendAudit({ actor: `admin:${s.admin.name}`, action: 'admin.session.closed', subject: 'dashboard', data: {} });
    res.clearCookie(SESSION_COOKIE, cookieOptions);
    res.status(204).end();
  });

  r.use('/ui/assets', express.static(join(UI_DIR, 'assets'), { index: false, fallthrough: false, maxAge: '1h' }));
  r.get('/ui/', (_req, res) => {
    const index = join(UI_DIR, 'index.html');
    res.setHeader('Cache-Control', 'no-store');
    if (!existsSync(index)) {
      res.status(503).type('text/plain').send('The dashboard is not built: run `npm run build`.\n');
      return;
    }
    res.sendFile(index);
  });
  r.use('/ui', (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number }).status;
    res.status(status === 404 ? 404 : status && status < 500 ? 400 : 500).json({ error: status === 404 ? 'not found' : status && status < 500 ? 'bad request' : 'internal error' });
  });
  return r;
}
