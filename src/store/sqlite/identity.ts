/** EAB credentials, used workload-token jtis, renewal triggers and admin tokens in SQLite. */
import { ConflictError } from '../errors.js';
import type { IdentityStore } from '../store.js';
import type { EabCredential, RenewalTrigger } from '../types.js';
import { isUniqueViolation, type SqliteContext } from './context.js';
import { toAdminToken, toEab, type AdminTokenRow, type EabRow } from './rows.js';


export function identityMethods(ctx: SqliteContext): IdentityStore {
  const { db } = ctx;
  const s = {
    insertEab: db.prepare('INSERT INTO eab_credentials (kid, hmac_key_sealed, policy, note, created_at) VALUES (?, ?, ?, ?, ?)'),
    eabByKid: db.prepare<[string], EabRow>('SELECT * FROM eab_credentials WHERE kid = ?'),
    allEab: db.prepare<[], EabRow>('SELECT * FROM eab_credentials ORDER BY created_at'),
    revokeEab: db.prepare('UPDATE eab_credentials SET revoked_at = ? WHERE kid = ? AND revoked_at IS NULL'),
    useToken: db.prepare('INSERT OR IGNORE INTO used_tokens (issuer, jti, expires_at) VALUES (?, ?, ?)'),
    forgetTokens: db.prepare('DELETE FROM used_tokens WHERE expires_at < ?'),
    setTrigger: db.prepare(
      'INSERT INTO renewal_triggers (scope, name, triggered_at) VALUES (?, ?, ?) ON CONFLICT (scope, name) DO UPDATE SET triggered_at = excluded.triggered_at',
    ),
    triggers: db.prepare<[], { scope: string; name: string; triggered_at: number }>('SELECT * FROM renewal_triggers'),
    insertAdmin: db.prepare('INSERT INTO admin_tokens (id, token_sha256, role, name, created_at) VALUES (?, ?, ?, ?, ?)'),
    adminByHash: db.prepare<[string], AdminTokenRow>('SELECT id, role, name, created_at, revoked_at FROM admin_tokens WHERE token_sha256 = ?'),
    allAdmins: db.prepare<[], AdminTokenRow>('SELECT id, role, name, created_at, revoked_at FROM admin_tokens ORDER BY created_at'),
    revokeAdmin: db.prepare('UPDATE admin_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
  };

  return {
    async createEab(c, actor) {
      try {
        db.transaction(() => {
          s.insertEab.run(c.kid, Buffer.from(c.hmacKeySealed), JSON.stringify(c.policy), c.note, Date.now());
          ctx.audit({ actor, action: 'eab.created', subject: c.kid, data: { policy: c.policy, note: c.note } });
        }).immediate();
      } catch (e) {
        if (isUniqueViolation(e)) throw new ConflictError(`EAB key id ${c.kid} exists`, c.kid);
        throw e;
      }
      return ctx.durable(toEab(s.eabByKid.get(c.kid)!));
    },

    async getEab(kid: string): Promise<EabCredential | null> {
      const row = s.eabByKid.get(kid);
      return row ? toEab(row) : null;
    },

    async listEab() {
      return s.allEab.all().map(toEab);
    },

    async revokeEab(kid: string, actor: string) {
      const done = db.transaction(() => {
        const n = s.revokeEab.run(Date.now(), kid).changes;
        if (n === 1) ctx.audit({ actor, action: 'eab.revoked', subject: kid });
        return n === 1;
      }).immediate();
      return done ? ctx.durable(true) : false;
    },

    async useTokenOnce(issuer: string, jti: string, expiresAt: Date) {
      const fresh = db.transaction(() => {
        // Forget jtis whose tokens expired long ago: they can no longer be replayed anyway.
        s.forgetTokens.run(Date.now() - 3_600_000);
        return s.useToken.run(issuer, jti, expiresAt.getTime()).changes === 1;
      }).immediate();
      return fresh ? ctx.durable(true) : false;
    },

    async setRenewalTrigger(trigger: RenewalTrigger, actor: string) {
      db.transaction(() => {
        s.setTrigger.run(trigger.scope, trigger.name, trigger.at.getTime());
        ctx.audit({ actor, action: 'renewal.triggered', subject: `${trigger.scope}:${trigger.name}` });
      }).immediate();
      await ctx.durable(undefined);
    },

    async listRenewalTriggers() {
      return s.triggers.all().map((r) => ({ scope: r.scope as RenewalTrigger['scope'], name: r.name, at: new Date(r.triggered_at) }));
    },

    async createAdminToken(token, actor) {
      db.transaction(() => {
        s.insertAdmin.run(token.id, token.tokenSha256, token.role, token.name, Date.now());
        ctx.audit({ actor, action: 'admin-token.created', subject: token.id, data: { role: token.role, name: token.name } });
      }).immediate();
      await ctx.durable(undefined);
    },

    async findAdminToken(tokenSha256: string) {
      const row = s.adminByHash.get(tokenSha256);
      return row ? toAdminToken(row) : null;
    },

    async listAdminTokens() {
      return s.allAdmins.all().map(toAdminToken);
    },

    async revokeAdminToken(id: string, actor: string) {
      const done = db.transaction(() => {
        const n = s.revokeAdmin.run(Date.now(), id).changes;
        if (n === 1) ctx.audit({ actor, action: 'admin-token.revoked', subject: id });
        return n === 1;
      }).immediate();
      return done ? ctx.durable(true) : false;
    },
  };
}
