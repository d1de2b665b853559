/**
 * The admin API (JSON, on the admin listener). Bearer tokens are stored as SHA-256 hashes; each
 * token has one role, and roles separate duties: an `auditor` reads the inventory and the audit
 * log, an `operator` revokes, manages EAB, reloads profiles and triggers renewals, a `ca-admin`
 * rotates, archives and retires issuers. Every call — allowed or not — is audited with its actor.
 */
import { createHash, randomBytes } from 'node:crypto';
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import { AcmeProblem } from '../acme/problem.js';
import type { CaMaterial } from '../ca/ca-directory.js';
import { CaOperationError, type CaOperations } from '../domain/ca-operations.js';
import type { ExternalAccounts } from '../domain/external-accounts.js';
import type { RevocationService } from '../domain/revocation.js';
import type { Store } from '../store/store.js';
import type { AdminRole, AdminToken, CertificateRecord } from '../store/types.js';
import type { RenewalInfoService } from '../domain/renewal-info.js';
import { auditRoutes } from './admin-audit-routes.js';
import { caRoutes } from './admin-ca-routes.js';
import { certificateRoutes } from './admin-certificate-routes.js';
import { dashboardRoutes } from './admin-dashboard-api.js';
import { eabRoutes } from './admin-eab-routes.js';
import { CSRF_HEADER, SESSION_COOKIE, cookieValue, type Session, type SessionSealer } from './ui/sessions.js';

export const ROLES: readonly AdminRole[] = ['auditor', 'operator', 'ca-admin'];
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Which roles may do what. */
const PERMISSIONS = {
  'certificates:read': ['auditor', 'operator', 'ca-admin'],
  'accounts:read': ['auditor', 'operator', 'ca-admin'],
  'issuers:read': ['auditor', 'operator', 'ca-admin'],
  'audit:read': ['auditor'],
  'anomalies:read': ['auditor', 'operator'],
  'certificates:revoke': ['operator'],
  'eab:manage': ['operator'],
  'profiles:reload': ['operator'],
  'renewals:profile': ['operator'],
  'renewals:issuer': ['ca-admin'],
  'issuers:manage': ['ca-admin'],
} as const satisfies Record<string, readonly AdminRole[]>;
export type Permission = keyof typeof PERMISSIONS;

/** The permissions a role holds (the dashboard offers only these; the server checks each call anyway). */
export function permissionsOf(role: AdminRole): Permission[] {
  return (Object.keys(PERMISSIONS) as Permission[]).filter((p) => (PERMISSIONS[p] as readonly string[]).includes(role));
}

/** A new admin token: `anvil_<id>.<secret>`; only its SHA-256 is stored. */
export function newAdminToken(): { id: string; token: string; sha256: string } {
  const id = randomBytes(6).toString('hex');
  const token = `anvil_${id}.${randomBytes(32).toString('base64url')}`;
  return { id, token, sha256: hashToken(token) };
}

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

export interface AdminContext {
  store: Store;
  /** Verifies the audit chain (GET /admin/audit/verify). */
  auditKey: Uint8Array;
  ca: CaMaterial;
  revocation: RevocationService;
  externalAccounts: ExternalAccounts;
  caOperations: CaOperations;
  reloadProfiles(): { ok: true; loaded: string[]; changed: string[] } | { ok: false; error: string };
  reloadCa(): Promise<unknown>;
  anomalies(): unknown[];
  /** The ARI window as the renewalInfo endpoint answers it (shown on the dashboard's certificate page). */
  renewalInfo: RenewalInfoService;
  profileNames(): string[];
  /** Where the audit checkpoints are written (GET /admin/audit/verify checks against the latest). */
  auditCheckpointFile: string;
  /** This process's id as a lease holder and heartbeat writer (LeaseKeeper). */
  instanceId: string;
  /** Dashboard sessions: when set, a valid session cookie (plus CSRF token on writes) stands for a bearer token. */
  sessions?: SessionSealer;
  log: Logger;
}

/** A handler's answer that is not JSON: a file download. */
export class RawResponse {
  constructor(
    readonly contentType: string,
    readonly body: string,
    readonly filename: string,
  ) {}
}

/** Wraps a handler with its permission check and the audit record of the call. */
export type RouteFactory = (permission: Permission, handler: (req: Request, admin: AdminToken) => Promise<unknown>) => RequestHandler;

/** An admin call's refusal with its HTTP status and message. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A certificate as the admin API shows it. */
export function certificateJson(c: CertificateRecord) {
  return {
    id: c.id,
    serial: c.serial,
    issuer: c.issuerId,
    account: c.accountId,
    profile: c.profile,
    names: c.identifiers.map((i) => i.value),
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    renewalWindow: { start: c.renewalStart.toISOString(), end: c.renewalEnd.toISOString() },
    revokedAt: c.revokedAt?.toISOString() ?? null,
    revocationReason: c.revocationReason,
  };
}

export function adminRoutes(ctx: AdminContext): Router {
  const r = express.Router();
  r.use(express.json({ limit: '64kb' }));

  const authenticate: RequestHandler = async (req, res, next) => {
    const header = req.headers.authorization;
    const token = /^Bearer (\S+)$/.exec(header ?? '')?.[1];
    // Without an Authorization header, a dashboard session cookie may stand for the token.
    const sessionCookie = header === undefined && ctx.sessions ? cookieValue(req.headers.cookie, SESSION_COOKIE) : undefined;
    const session: Session | null = sessionCookie !== undefined ? ctx.sessions!.read(sessionCookie) : null;
    const sha256 = token ? hashToken(token) : session?.tokenSha256;
    const found = sha256 ? await ctx.store.findAdminToken(sha256) : null;
    if (!found || found.revokedAt) {
      // A revoked token names a person, so its use is audited; unknown tokens are only logged, so
      // that anonymous traffic cannot grow the audit log.
      if (found) {
        await ctx.store.appendAudit({ actor: `admin:${found.name}`, action: 'admin.refused', subject: `${req.method} ${req.path}`, data: { reason: 'token revoked' } });
      } else {
        ctx.log.warn({ method: req.method, path: req.path, ip: req.ip, presented: token !== undefined }, 'admin call without a valid token refused');
      }
      res.setHeader('WWW-Authenticate', 'Bearer realm="anvil-admin"');
      res.status(401).json({ error: sessionCookie !== undefined ? 'the dashboard session has expired or ended: sign in again' : 'authentication required: Authorization: Bearer <admin token>' });
      return;
    }
    if (session && !SAFE_METHODS.has(req.method)) {
      // A cookie is sent by the browser on its own; a state change must also prove it comes from
      // the dashboard page: the session's CSRF token in a header, and no foreign Origin.
      const origin = req.headers.origin;
      if (!ctx.sessions!.csrfMatches(session, req.get(CSRF_HEADER)) || (origin !== undefined && origin !== `http://${req.headers.host}`)) {
        await ctx.store.appendAudit({ actor: `admin:${found.name}`, action: 'admin.refused', subject: `${req.method} ${req.path}`, data: { reason: 'csrf token missing or wrong' } });
        res.status(403).json({ error: 'CSRF check failed: send the session\'s X-CSRF-Token header from the dashboard page' });
        return;
      }
    }
    res.locals.admin = found;
    next();
  };

  /** Wraps a handler with its permission check and the audit record of the call. */
  const route: RouteFactory = (permission, handler) => {
    return async (req: Request, res: Response) => {
      const admin = res.locals.admin as AdminToken;
      const actor = `admin:${admin.name}`;
      const action = `admin.${req.method.toLowerCase()} ${req.route?.path ?? req.path}`;
      const allowed = (PERMISSIONS[permission] as readonly string[]).includes(admin.role);
      if (!allowed) {
        await ctx.store.appendAudit({ actor, action, subject: req.path, data: { role: admin.role, allowed: false } });
        res.status(403).json({ error: `role ${admin.role} may not ${permission}` });
        return;
      }
      try {
        const body = await handler(req, admin);
        await ctx.store.appendAudit({ actor, action, subject: req.path, data: { role: admin.role, allowed: true } });
        if (body instanceof RawResponse) res.attachment(body.filename).type(body.contentType).send(body.body);
        else res.json(body);
      } catch (e) {
        const status = e instanceof HttpError ? e.status : e instanceof CaOperationError ? 409 : e instanceof AcmeProblem ? (e.status === 500 ? 500 : 409) : 500;
        if (status === 500) ctx.log.error({ err: (e as Error).message, action }, 'admin call failed');
        await ctx.store.appendAudit({ actor, action, subject: req.path, data: { role: admin.role, allowed: true, failed: (e as Error).message.slice(0, 200) } });
        res.status(status).json({ error: status === 500 ? 'internal error' : (e as Error).message });
      }
    };
  };

  r.use(authenticate);

  certificateRoutes(r, route, ctx);
  auditRoutes(r, route, ctx);
  eabRoutes(r, route, ctx);
  caRoutes(r, route, ctx);
  // After the routes above: /admin/certificates/expiring must not be taken for a serial.
  dashboardRoutes(r, route, ctx);

  r.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number }).status;
    res.status(status && status < 500 ? status : 500).json({ error: status && status < 500 ? 'bad request' : 'internal error' });
  });
  return r;
}
