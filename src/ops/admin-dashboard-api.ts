/**
 * The admin API calls the dashboard (/ui/) reads beyond the original inventory: overview counters,
 * indexed inventory pages, a certificate's details and links, the CA hierarchy, accounts and
 * audit filters. Each goes through the same permission check and audit record as every admin call.
 */
import { X509Certificate } from 'node:crypto';
import type { Request, Router } from 'express';
import { canonicalSerial } from '../ca/certificate-builder.js';
import type { InventoryQuery } from '../store/dashboard-store.js';
import type { AccountRecord } from '../store/types.js';
import { certificateJson, HttpError, RawResponse, type AdminContext, type RouteFactory } from './admin-api.js';

const HOUR = 3_600_000;
const STARTED_AT = new Date();

/** Registers the dashboard's read calls on the admin router. */
export function dashboardRoutes(r: Router, route: RouteFactory, ctx: AdminContext): void {
  r.get(
    '/admin/overview',
    route('certificates:read', async () => {
      const now = new Date();
      const from = new Date((Math.floor(now.getTime() / HOUR) - 23) * HOUR);
      const hours = await ctx.store.hourlyActivity(from, now);
      const activity = Array.from({ length: 24 }, (_, i) => {
        const at = from.getTime() + i * HOUR;
        const h = hours.find((x) => x.hour.getTime() === at);
        return { hour: new Date(at).toISOString(), issued: h?.issued ?? 0, failedValidations: h?.failedValidations ?? 0, revoked: h?.revoked ?? 0 };
      });
      const live = await ctx.store.liveCertificateCounts(now);
      const sum = (key: 'profile' | 'issuerId') => {
        const m = new Map<string, number>();
        for (const c of live) m.set(c[key], (m.get(c[key]) ?? 0) + c.live);
        return [...m.entries()].map(([k, n]) => ({ [key === 'profile' ? 'profile' : 'issuer']: k, live: n })).sort((a, b) => b.live - a.live);
      };
      const crls = await ctx.store.crlStates();
      const ocsp = await ctx.store.ocspFreshness(now);
      const freshness = ctx.ca.issuers.map((i) => {
        const mine = crls.filter((c) => c.issuerId === i.id);
        const full = mine.find((c) => c.shard === -1) ?? null;
        const shards = mine.filter((c) => c.shard !== -1);
        const oldest = shards.reduce<Date | null>((o, c) => (o === null || c.thisUpdate < o ? c.thisUpdate : o), null);
        const o = ocsp.find((x) => x.issuerId === i.id);
        return {
          issuer: i.id,
          status: i.status,
          crl: {
            number: full?.number ?? null,
            thisUpdate: full?.thisUpdate.toISOString() ?? null,
            nextUpdate: full?.nextUpdate.toISOString() ?? null,
            shards: shards.length,
            oldestShardThisUpdate: oldest?.toISOString() ?? null,
            expired: mine.filter((c) => c.nextUpdate <= now).length,
          },
          ocsp: { overdue: o?.overdue ?? 0, earliestNextUpdate: o?.earliestNextUpdate?.toISOString() ?? null },
        };
      });
      // Instances heartbeat every few seconds (LeaseKeeper: a third of a 15 s lease); a minute of
      // silence lists an instance as gone from this view.
      const instances = await ctx.store.listInstances(new Date(now.getTime() - 60_000));
      const leases = await ctx.store.listLeases();
      return {
        generatedAt: now.toISOString(),
        activity,
        byProfile: sum('profile'),
        byIssuer: sum('issuerId'),
        expiring24h: await ctx.store.expiringSummary(now, new Date(now.getTime() + 24 * HOUR)),
        freshness,
        instance: {
          pid: process.pid,
          node: process.version,
          startedAt: STARTED_AT.toISOString(),
          uptimeSeconds: Math.round(process.uptime()),
          rssBytes: process.memoryUsage().rss,
          activeIssuer: ctx.ca.active.id,
          id: ctx.instanceId,
        },
        instances: instances.map((i) => ({ id: i.id, host: i.host, pid: i.pid, startedAt: i.startedAt.toISOString(), seenAt: i.seenAt.toISOString(), self: i.id === ctx.instanceId })),
        leases: leases.map((l) => ({
          task: l.task,
          holder: l.holder,
          fence: l.fence,
          acquiredAt: l.acquiredAt.toISOString(),
          expiresAt: l.expiresAt.toISOString(),
          live: l.expiresAt > now,
        })),
      };
    }),
  );

  r.get('/admin/inventory', route('certificates:read', async (req) => {
    const query = inventoryQueryOf(req);
    const page = await withCursor(() => ctx.store.searchInventory(query));
    return { certificates: page.certificates.map(certificateJson), next: page.next };
  }));

  r.get(
    '/admin/certificates/:serial',
    route('certificates:read', async (req) => {
      const cert = await certificateOf(ctx, req);
      const status = await ctx.store.getCertificateStatus(cert.issuerId, cert.serial);
      const links = await ctx.store.certificateLinks(cert.id);
      const issuer = ctx.ca.issuers.find((i) => i.id === cert.issuerId);
      let ari: { start: string; end: string; retryAfterSeconds: number; certId: string } | null = null;
      if (issuer) {
        const certId = `${Buffer.from(issuer.keyId).toString('base64url')}.${Buffer.from(cert.serial, 'hex').toString('base64url')}`;
        const w = await ctx.renewalInfo.window(certId);
        ari = { start: w.start.toISOString(), end: w.end.toISOString(), retryAfterSeconds: w.retryAfterSeconds, certId };
      }
      const x509 = new X509Certificate(cert.der);
      const ref = (c: { id: string; serial: string; notAfter: Date; revoked: boolean }) => ({ serial: c.serial, notAfter: c.notAfter.toISOString(), revoked: c.revoked });
      return {
        ...certificateJson(cert),
        subject: dnOf(x509.subject),
        issuerName: dnOf(x509.issuer),
        issuedAt: cert.issuedAt.toISOString(),
        orderId: cert.orderId,
        profileHash: cert.profileHash,
        crlShard: cert.crlShard,
        invalidityDate: cert.invalidityDate?.toISOString() ?? null,
        ocsp: {
          status: cert.revokedAt ? 'revoked' : 'good',
          presigned: status?.ocsp
            ? { signedAs: status.ocsp.revoked ? 'revoked' : 'good', thisUpdate: status.ocsp.thisUpdate.toISOString(), nextUpdate: status.ocsp.nextUpdate.toISOString() }
            : null,
        },
        ari,
        predecessors: links.predecessors.map(ref),
        successor: links.successor ? ref(links.successor) : null,
      };
    }),
  );

  r.get(
    '/admin/certificates/:serial/chain.pem',
    route('certificates:read', async (req) => {
      const cert = await certificateOf(ctx, req);
      const leaf = new X509Certificate(cert.der).toString().trim();
      const leafOnly = req.query.leaf === 'true';
      return new RawResponse('application/pem-certificate-chain', `${leaf}\n${leafOnly ? '' : cert.chainPem}`, `${cert.serial}${leafOnly ? '' : '-chain'}.pem`);
    }),
  );

  r.get('/admin/certificates/:serial/audit', route('audit:read', async (req) => {
    const cert = await certificateOf(ctx, req);
    const bySerial = await ctx.store.searchAudit({ subject: cert.serial, limit: 100 });
    const byOrder = await ctx.store.searchAudit({ subject: cert.orderId, limit: 100 });
    return [...bySerial, ...byOrder].sort((a, b) => a.seq - b.seq).map(auditJson);
  }));

  r.get(
    '/admin/hierarchy',
    route('issuers:read', async () => {
      const now = new Date();
      const live = await ctx.store.liveCertificateCounts(now);
      const roots = ctx.ca.roots.map((root) => {
        const x = new X509Certificate(root.der);
        return { id: root.id, status: root.status, hasKey: root.hasKey, subject: dnOf(x.subject), notAfter: new Date(x.validTo).toISOString() };
      });
      const issuers = ctx.ca.issuers.map((i) => {
        const x = new X509Certificate(i.certDer);
        const alternates = i.alternateChainPems.map((pem) => dnOf(new X509Certificate(pem.split(/(?=-----BEGIN)/)[0]!).issuer));
        return {
          id: i.id,
          status: i.status,
          active: i.id === ctx.ca.active.id,
          keyStore: i.signer.kind,
          subject: dnOf(x.subject),
          issuedBy: dnOf(x.issuer),
          crossSignedBy: alternates,
          notAfter: i.notAfter.toISOString(),
          liveCertificates: live.filter((c) => c.issuerId === i.id).reduce((n, c) => n + c.live, 0),
        };
      });
      return { bundleVersion: ctx.ca.bundleVersion, roots, issuers, profiles: ctx.profileNames() };
    }),
  );

  r.get(
    '/admin/accounts',
    route('accounts:read', async (req) => {
      const cursor = typeof req.query.cursor === 'string' && req.query.cursor !== '' ? req.query.cursor : undefined;
      const page = await withCursor(() => ctx.store.listAccounts(pageLimit(req), cursor));
      return { accounts: page.accounts.map(accountJson), next: page.next };
    }),
  );

  r.get(
    '/admin/accounts/:id',
    route('accounts:read', async (req) => {
      const account = await ctx.store.getAccount(String(req.params.id));
      if (!account) throw new HttpError(404, 'no such account');
      const activity = await ctx.store.accountActivity(account.id, 50);
      return {
        ...accountJson(account),
        orders: activity.orders.map((o) => ({ ...o, createdAt: o.createdAt.toISOString() })),
        failures: activity.failures.map((f) => ({ ...f, finishedAt: f.finishedAt?.toISOString() ?? null })),
      };
    }),
  );

  r.get(
    '/admin/audit/search',
    route('audit:read', async (req) => {
      const text = (k: string) => (typeof req.query[k] === 'string' && req.query[k] !== '' ? (req.query[k] as string) : undefined);
      const before = text('before');
      const beforeSeq = before === undefined ? undefined : Number(before);
      if (beforeSeq !== undefined && !Number.isSafeInteger(beforeSeq)) throw new HttpError(400, 'before must be a sequence number');
      const records = await ctx.store.searchAudit({
        ...definedOnly({ actor: text('actor'), action: text('action'), subject: text('subject'), beforeSeq }),
        limit: pageLimit(req),
      });
      return { records: records.map(auditJson), next: records.length === pageLimit(req) ? String(records[records.length - 1]!.seq) : null };
    }),
  );
}

/** A distinguished name as one line (node prints one attribute per line). */
const dnOf = (text: string): string => text.split('\n').filter(Boolean).join(', ');

function definedOnly<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function pageLimit(req: Request): number {
  const n = Number(req.query.limit ?? 50);
  if (!Number.isSafeInteger(n) || n < 1 || n > 200) throw new HttpError(400, 'limit must be an integer from 1 to 200');
  return n;
}

async function withCursor<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof RangeError) throw new HttpError(400, 'cursor is not one this server handed out');
    throw e;
  }
}

async function certificateOf(ctx: AdminContext, req: Request) {
  const text = String(req.params.serial);
  if (!/^[0-9a-fA-F:]{1,64}$/.test(text)) throw new HttpError(400, 'serial must be hexadecimal');
  const serial = canonicalSerial(text);
  const cert = await ctx.store.findCertificateBySerial(serial);
  if (!cert) throw new HttpError(404, `no certificate with serial ${serial}`);
  return cert;
}

function inventoryQueryOf(req: Request): InventoryQuery & { limit: number } {
  const q = req.query;
  const text = (k: string) => (typeof q[k] === 'string' && q[k] !== '' ? (q[k] as string).trim() : undefined);
  const date = (k: string) => {
    const t = text(k);
    if (t === undefined) return undefined;
    const d = new Date(t);
    if (Number.isNaN(d.getTime())) throw new HttpError(400, `${k} must be a date-time (RFC 3339)`);
    return d;
  };
  const serial = text('serial');
  if (serial !== undefined && !/^[0-9a-fA-F:]{1,64}$/.test(serial)) throw new HttpError(400, 'serial must be hexadecimal');
  const revoked = text('revoked');
  if (revoked !== undefined && revoked !== 'true' && revoked !== 'false') throw new HttpError(400, 'revoked must be true or false');
  const cursor = text('cursor');
  if (cursor !== undefined && !/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) throw new HttpError(400, 'cursor is not one this server handed out');
  const query = definedOnly({
    name: text('name')?.toLowerCase(),
    serial: serial === undefined ? undefined : canonicalSerial(serial),
    accountId: text('account'),
    profile: text('profile'),
    issuerId: text('issuer'),
    revoked: revoked === undefined ? undefined : revoked === 'true',
    expiresAfter: date('expiresAfter'),
    expiresBefore: date('expiresBefore'),
    cursor,
  });
  return { ...query, limit: pageLimit(req) };
}

function accountJson(a: AccountRecord) {
  return { id: a.id, status: a.status, contact: a.contact, externalAccountId: a.externalAccountId, createdAt: a.createdAt.toISOString(), thumbprint: a.thumbprint };
}

function auditJson(r: { seq: number; at: Date; actor: string; action: string; subject: string; data: Record<string, unknown> }) {
  return { seq: r.seq, at: r.at.toISOString(), actor: r.actor, action: r.action, subject: r.subject, data: r.data };
}
