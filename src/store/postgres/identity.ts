/** EAB credentials, used workload-token jtis, renewal triggers and admin tokens in PostgreSQL. */
import { ConflictError } from '../errors.js';
import { toAdminToken, toEab, type AdminTokenRow, type EabRow } from '../shared/rows.js';
import type { IdentityStore } from '../store.js';
import type { EabCredential, RenewalTrigger } from '../types.js';
import type { PgContext } from './context.js';
import { isUniqueViolation } from './sql.js';


export function identityMethods(ctx: PgContext): IdentityStore {
  const { sql } = ctx;

  return {
    async createEab(c, actor) {
      try {
        return await ctx.transaction(async (tx) => {
          const row = (await tx.row<EabRow>(
            'INSERT INTO eab_credentials (kid, hmac_key_sealed, policy, note, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING *',
            [c.kid, Buffer.from(c.hmacKeySealed), JSON.stringify(c.policy), c.note, Date.now()],
          ))!;
          await tx.audit({ actor, action: 'eab.created', subject: c.kid, data: { policy: c.policy, note: c.note } });
          return toEab(row);
        });
      } catch (e) {
        if (isUniqueViolation(e)) throw new ConflictError(`EAB key id ${c.kid} exists`, c.kid);
        throw e;
      }
    },

    async getEab(kid: string): Promise<EabCredential | null> {
      const row = await sql.row<EabRow>('SELECT * FROM eab_credentials WHERE kid = $1', [kid]);
      return row ? toEab(row) : null;
    },

    async listEab() {
      return (await sql.rows<EabRow>('SELECT * FROM eab_credentials ORDER BY created_at, kid')).map(toEab);
    },

    async revokeEab(kid: string, actor: string) {
      return ctx.transaction(async (tx) => {
        if ((await tx.run('UPDATE eab_credentials SET revoked_at = $1 WHERE kid = $2 AND revoked_at IS NULL', [Date.now(), kid])) !== 1) return false;
        await tx.audit({ actor, action: 'eab.revoked', subject: kid });
        return true;
      });
    },

    async useTokenOnce(issuer: string, jti: string, expiresAt: Date) {
      return ctx.transaction(async (tx) => {
        // Forget jtis whose tokens expired long ago: they can no longer be replayed anyway.
        await tx.run('DELETE FROM used_tokens WHERE expires_at < $1', [Date.now() - 3_600_000]);
        // A concurrent use of the same jti waits on the unique key and then inserts nothing.
        return (await tx.run('INSERT INTO used_tokens (issuer, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [issuer, jti, expiresAt.getTime()])) === 1;
      });
    },

    async setRenewalTrigger(trigger: RenewalTrigger, actor: string) {
      await ctx.transaction(async (tx) => {
        await tx.run(
          'INSERT INTO renewal_triggers (scope, name, triggered_at) VALUES ($1, $2, $3) ON CONFLICT (scope, name) DO UPDATE SET triggered_at = excluded.triggered_at',
          [trigger.scope, trigger.name, trigger.at.getTime()],
        );
        await tx.audit({ actor, action: 'renewal.triggered', subject: `${trigger.scope}:${trigger.name}` });
      });
    },

    async listRenewalTriggers() {
      const rows = await sql.rows<{ scope: string; name: string; triggered_at: number }>('SELECT * FROM renewal_triggers');
      return rows.map((r) => ({ scope: r.scope as RenewalTrigger['scope'], name: r.name, at: new Date(r.triggered_at) }));
    },

    async createAdminToken(token, actor) {
      await ctx.transaction(async (tx) => {
        await tx.run('INSERT INTO admin_tokens (id, token_sha256, role, name, created_at) VALUES ($1, $2, $3, $4, $5)', [token.id, token.tokenSha256, token.role, token.name, Date.now()]);
        await tx.audit({ actor, action: 'admin-token.created', subject: token.id, data: { role: token.role, name: token.name } });
      });
    },

    async findAdminToken(tokenSha256: string) {
      const row = await sql.row<AdminTokenRow>('SELECT id, role, name, created_at, revoked_at FROM admin_tokens WHERE token_sha256 = $1', [tokenSha256]);
      return row ? toAdminToken(row) : null;
    },

    async listAdminTokens() {
      return (await sql.rows<AdminTokenRow>('SELECT id, role, name, created_at, revoked_at FROM admin_tokens ORDER BY created_at, id')).map(toAdminToken);
    },

    async revokeAdminToken(id: string, actor: string) {
      return ctx.transaction(async (tx) => {
        if ((await tx.run('UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [Date.now(), id])) !== 1) return false;
        await tx.audit({ actor, action: 'admin-token.revoked', subject: id });
        return true;
      });
    },
  };
}
