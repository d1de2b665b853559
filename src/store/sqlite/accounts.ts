/** Accounts in SQLite (RFC 8555 §7.3): creation, lookup, contact, deactivation, key rollover. */
import { ConflictError } from '../errors.js';
import { newId } from '../ids.js';
import type { AccountStore } from '../store.js';
import type { AccountRecord, JsonWebKeyPublic, NewAccount } from '../types.js';
import { isUniqueViolation, type SqliteContext } from './context.js';
import { toAccount, type AccountRow } from './rows.js';

export function accountMethods(ctx: SqliteContext): AccountStore {
  const { db } = ctx;
  const s = {
    insert: db.prepare(
      'INSERT INTO accounts (id, status, jwk, thumbprint, contact, tos_agreed, created_at, external_account_id, created_ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    byId: db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE id = ?'),
    byThumbprint: db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE thumbprint = ?'),
    updateContact: db.prepare("UPDATE accounts SET contact = ? WHERE id = ? AND status = 'valid'"),
    deactivate: db.prepare("UPDATE accounts SET status = 'deactivated' WHERE id = ? AND status = 'valid'"),
    deactivateAuthzs: db.prepare("UPDATE authzs SET status = 'deactivated' WHERE account_id = ? AND status = 'pending'"),
    changeKey: db.prepare("UPDATE accounts SET jwk = ?, thumbprint = ? WHERE id = ? AND thumbprint = ? AND status = 'valid'"),
  };
  const get = (id: string) => {
    const row = s.byId.get(id);
    return row ? toAccount(row) : null;
  };
  const existing = (thumbprint: string) => s.byThumbprint.get(thumbprint)?.id;

  return {
    async createAccount(account: NewAccount): Promise<AccountRecord> {
      const id = newId();
      try {
        db.transaction(() => {
          s.insert.run(
            id,
            'valid',
            JSON.stringify(account.jwk),
            account.thumbprint,
            JSON.stringify(account.contact),
            account.termsOfServiceAgreed ? 1 : 0,
            Date.now(),
            account.externalAccountId ?? null,
            account.createdFromIp ?? null,
          );
          if (account.createdFromIp) ctx.counters.add('accounts:ip', account.createdFromIp, Date.now());
          ctx.audit({ actor: `account:${id}`, action: 'account.created', subject: id, data: { contact: account.contact, externalAccountId: account.externalAccountId ?? null, ip: account.createdFromIp ?? null } });
        }).immediate();
      } catch (e) {
        if (isUniqueViolation(e)) throw new ConflictError('an account with this key exists', existing(account.thumbprint));
        throw e;
      }
      return ctx.durable(get(id)!);
    },

    async getAccount(id: string) {
      return get(id);
    },

    async findAccountByThumbprint(thumbprint: string) {
      const row = s.byThumbprint.get(thumbprint);
      return row ? toAccount(row) : null;
    },

    async updateAccountContact(id: string, contact: string[]) {
      const changed = db.transaction(() => {
        const n = s.updateContact.run(JSON.stringify(contact), id).changes;
        if (n === 1) ctx.audit({ actor: `account:${id}`, action: 'account.updated', subject: id, data: { contact } });
        return n;
      }).immediate();
      return changed === 1 ? ctx.durable(get(id)) : null;
    },

    async deactivateAccount(id: string) {
      const changed = db.transaction(() => {
        const n = s.deactivate.run(id).changes;
        if (n === 1) {
          s.deactivateAuthzs.run(id);
          ctx.audit({ actor: `account:${id}`, action: 'account.deactivated', subject: id });
        }
        return n;
      }).immediate();
      return changed === 1 ? ctx.durable(get(id)) : null;
    },

    async changeAccountKey(id: string, oldThumbprint: string, jwk: JsonWebKeyPublic, thumbprint: string) {
      try {
        const changed = db.transaction(() => {
          const n = s.changeKey.run(JSON.stringify(jwk), thumbprint, id, oldThumbprint).changes;
          if (n === 1) ctx.audit({ actor: `account:${id}`, action: 'account.key-changed', subject: id, data: { oldThumbprint, newThumbprint: thumbprint } });
          return n;
        }).immediate();
        return changed === 1 ? await ctx.durable(get(id)) : null;
      } catch (e) {
        if (isUniqueViolation(e)) throw new ConflictError('another account holds the new key', existing(thumbprint));
        throw e;
      }
    },

    async countAccountsFromIp(ip: string, since: Date) {
      return ctx.counters.window('accounts:ip', ip, since.getTime(), Date.now());
    },
  };
}
