/**
 * The admin API (JSON, on the admin listener). Bearer tokens are stored as SHA-256 hashes; each
 * token has one role, and roles separate duties: an `auditor` reads the inventory and the audit
 * log, an `operator` revokes, manages EAB, reloads profiles and triggers renewals, a `ca-admin`
 * rotates, archives and retires issuers. Every call — allowed or not — is audited with its actor.
 */
import { canonicalSerial } from '../ca/certificate-builder.js';
import { createHash, randomBytes } from 'node:crypto';
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import { AcmeProblem } from '../acme/problem.js';
import type { CaMaterial } from '../ca/ca-directory.js';
import { parseDuration } from '../config/settings.js';
import { CaOperationError, type CaOperations } from '../domain/ca-operations.js';
import type { ExternalAccounts } from '../domain/external-accounts.js';
import type { RevocationService } from '../domain/revocation.js';
import { parseSubscriberReason, subscriberReasonList } from '../domain/revocation.js';
import type { Store } from '../store/store.js';
import type { AdminRole, AdminToken, CertificateQuery, CertificateRecord } from '../store/types.js';
import type { RenewalInfoService } from '../domain/renewal-info.js';
import { dashboardRoutes } from './admin-dashboard-api.js';
import { auditVerifyReport } from './audit-verify.js';
import { existsSync } from 'node:fs';
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

  r.get('/admin/certificates', route('certificates:read', async (req) => (await ctx.store.searchCertificates(queryOf(req))).map(certificateJson)));
  r.get(
    '/admin/certificates/expiring',
    route('certificates:read', async (req) => {
      const within = parseDuration(String(req.query.within ?? '24h'));
      if (within === undefined) throw new HttpError(400, 'within must be a duration such as 24h');
      const now = Date.now();
      return (await ctx.store.searchCertificates({ expiresAfter: new Date(now), expiresBefore: new Date(now + within), revoked: false, limit: 1000 })).map(certificateJson);
    }),
  );
  r.post(
    '/admin/certificates/:serial/revoke',
    route('certificates:revoke', async (req, admin) => {
      const serial = canonicalSerial(String(req.params.serial));
      const cert = await ctx.store.findCertificateBySerial(serial);
      if (!cert) throw new HttpError(404, `no certificate with serial ${serial}`);
      // By name or by code, like `anvil revoke --reason`.
      const reason = parseSubscriberReason((req.body as { reason?: unknown })?.reason ?? 0);
      if (reason === undefined) throw new HttpError(400, `reason must be one of ${subscriberReasonList()}`);
      const invalidityText = (req.body as { invalidityDate?: unknown })?.invalidityDate;
      const invalidity = typeof invalidityText === 'string' ? new Date(invalidityText) : null;
      if (invalidity && Number.isNaN(invalidity.getTime())) throw new HttpError(400, 'invalidityDate must be an RFC 3339 date-time');
      return certificateJson(await ctx.revocation.apply(cert, reason, invalidity, `admin:${admin.name}`));
    }),
  );
  r.get(
    '/admin/audit',
    route('audit:read', async (req) => {
      const after = Number(req.query.after ?? 0);
      const limit = Math.min(Number(req.query.limit ?? 1000), 10_000);
      return ctx.store.readAudit(Number.isFinite(after) ? after : 0, Number.isFinite(limit) && limit > 0 ? limit : 1000);
    }),
  );
  r.get(
    '/admin/audit/verify',
    route('audit:read', async () => {
      // As `anvil audit verify` does: against the checkpoint file when there is one, with its sentences.
      const report = await auditVerifyReport(ctx.store, ctx.auditKey, existsSync(ctx.auditCheckpointFile) ? ctx.auditCheckpointFile : undefined);
      return { ok: report.ok, records: report.verdict?.records ?? 0, ...(report.verdict?.problem ? { problem: report.verdict.problem } : {}), report: report.lines };
    }),
  );
  r.get('/admin/anomalies', route('anomalies:read', async () => ctx.anomalies()));
  r.get(
    '/admin/eab',
    route('eab:manage', async () =>
      (await ctx.store.listEab()).map((c) => ({ kid: c.kid, policy: c.policy, note: c.note, createdAt: c.createdAt, revokedAt: c.revokedAt })),
    ),
  );
  r.post(
    '/admin/eab',
    route('eab:manage', async (req, admin) => {
      const b = (req.body ?? {}) as Record<string, unknown>;
      const list = (x: unknown) => (Array.isArray(x) ? x.map(String) : []);
      const created = await ctx.externalAccounts.create(
        { dnsSuffixes: list(b.dnsSuffixes), ipRanges: list(b.ipRanges), profiles: list(b.profiles), preauthorize: b.preauthorize !== false },
        typeof b.note === 'string' ? b.note : '',
        `admin:${admin.name}`,
      );
      return { kid: created.kid, hmacKey: created.hmacKey, policy: created.credential.policy };
    }),
  );
  r.delete(
    '/admin/eab/:kid',
    route('eab:manage', async (req, admin) => {
      if (!(await ctx.store.revokeEab(String(req.params.kid), `admin:${admin.name}`))) throw new HttpError(404, 'no active credential with that kid');
      return { revoked: req.params.kid };
    }),
  );
  r.post(
    '/admin/profiles/reload',
    route('profiles:reload', async () => {
      const result = ctx.reloadProfiles();
      if (!result.ok) throw new HttpError(422, result.error);
      return result;
    }),
  );
  r.post(
    '/admin/renewals',
    route('renewals:profile', async (req, admin) => {
      const profile = (req.body as { profile?: unknown })?.profile;
      if (typeof profile !== 'string') throw new HttpError(400, 'body must be {"profile": "<name>"} (issuer-wide renewals: POST /admin/issuers/:id/renew)');
      await ctx.store.setRenewalTrigger({ scope: 'profile', name: profile, at: new Date() }, `admin:${admin.name}`);
      return { triggered: { profile } };
    }),
  );
  r.get(
    '/admin/issuers',
    route('issuers:read', async () => {
      const now = new Date();
      return Promise.all(
        ctx.ca.issuers.map(async (i) => ({
          id: i.id,
          status: i.status,
          keyStore: i.signer.kind,
          notAfter: i.notAfter.toISOString(),
          alternates: i.alternateChainPems.length,
          certificates: await ctx.store.issuerCertificateStats(i.id, now),
        })),
      );
    }),
  );
  r.post(
    '/admin/issuers/rotate',
    route('issuers:manage', async (req, admin) => {
      // {"newRoot": true}: a root rotation (new root, new intermediate under it, old roots kept in the bundle).
      const newRoot = (req.body as { newRoot?: unknown } | undefined)?.newRoot ?? false;
      if (typeof newRoot !== 'boolean') throw new HttpError(400, 'newRoot must be true or false');
      const result = newRoot ? await ctx.caOperations.rotateRoot({}, `admin:${admin.name}`) : await ctx.caOperations.rotate({}, `admin:${admin.name}`);
      await ctx.reloadCa();
      return result;
    }),
  );
  r.post(
    '/admin/issuers/:id/renew',
    route('renewals:issuer', async (req, admin) => {
      await ctx.store.setRenewalTrigger({ scope: 'issuer', name: String(req.params.id), at: new Date() }, `admin:${admin.name}`);
      return { triggered: { issuer: req.params.id } };
    }),
  );
  r.post(
    '/admin/issuers/:id/archive',
    route('issuers:manage', async (req, admin) => {
      await ctx.caOperations.archive(String(req.params.id), `admin:${admin.name}`);
      await ctx.reloadCa();
      return { archived: req.params.id };
    }),
  );
  r.post(
    '/admin/issuers/:id/retire-key',
    route('issuers:manage', async (req, admin) => {
      await ctx.caOperations.destroyKey(String(req.params.id), `admin:${admin.name}`);
      return { keyDestroyed: req.params.id };
    }),
  );

  // After the routes above: /admin/certificates/expiring must not be taken for a serial.
  dashboardRoutes(r, route, ctx);

  r.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number }).status;
    res.status(status && status < 500 ? status : 500).json({ error: status && status < 500 ? 'bad request' : 'internal error' });
  });
  return r;
}

function queryOf(req: Request): CertificateQuery {
  const q = req.query;
  const text = (k: string) => (typeof q[k] === 'string' && q[k] !== '' ? (q[k] as string) : undefined);
  const date = (k: string) => {
    const t = text(k);
    if (t === undefined) return undefined;
    const d = new Date(t);
    if (Number.isNaN(d.getTime())) throw new HttpError(400, `${k} must be an RFC 3339 date-time`);
    return d;
  };
  const query: CertificateQuery = {};
  const set = <K extends keyof CertificateQuery>(k: K, v: CertificateQuery[K] | undefined) => {
    if (v !== undefined) query[k] = v;
  };
  set('name', text('name')?.toLowerCase());
  const serialText = text('serial');
  set('serial', serialText === undefined ? undefined : canonicalSerial(serialText));
  set('accountId', text('account'));
  set('profile', text('profile'));
  set('issuerId', text('issuer'));
  set('expiresBefore', date('expiresBefore'));
  set('expiresAfter', date('expiresAfter'));
  if (text('revoked') !== undefined) query.revoked = text('revoked') === 'true';
  if (text('limit') !== undefined) query.limit = Number(text('limit'));
  return query;
}
