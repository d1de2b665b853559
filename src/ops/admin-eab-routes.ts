/** The admin API's external account binding calls: list, create (the HMAC key is shown once), revoke. */
import type { Router } from 'express';
import { HttpError, type AdminContext, type RouteFactory } from './admin-api.js';

/** Registers the EAB calls on the admin router. */
export function eabRoutes(r: Router, route: RouteFactory, ctx: AdminContext): void {
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
}
