/** The admin API's CA calls: profile reload, renewal triggers, issuers (list, rotate, archive, retire a key). */
import type { Router } from 'express';
import { HttpError, type AdminContext, type RouteFactory } from './admin-api.js';

/** Registers the CA calls on the admin router. */
export function caRoutes(r: Router, route: RouteFactory, ctx: AdminContext): void {
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
}
