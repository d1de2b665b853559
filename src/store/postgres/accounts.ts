/** Accounts in PostgreSQL (RFC 8555 §7.3): creation, lookup, contact, deactivation, key rollover. */
import { ConflictError } from '../errors.js';
import { newId } from '../ids.js';
import type { AccountStore } from '../store.js';
import type { AccountRecord, JsonWebKeyPublic, NewAccount } from '../types.js';
import { toAccount, type AccountRow } from '../shared/rows.js';
import type { PgContext } from './context.js';
import { isUniqueViolation } from './sql.js';

export function accountMethods(ctx: PgContext): AccountStore {
  const { sql } = ctx;
  const byThumbprint = (thumbprint: string) => sql.row<AccountRow>('SELECT * FROM accounts WHERE thumbprint = $1', [thumbprint]);
  const existing = async (thumbprint: string) => (await byThumbprint(thumbprint))?.id;

  return {
    async createAccount(account: NewAccount): Promise<AccountRecord> {
      const id = newId();
      try {
        return await ctx.transaction(async (tx) => {
          const now = Date.now();
          const row = (await tx.row<AccountRow>(
            `INSERT INTO accounts (id, status, jwk, thumbprint, contact, tos_agreed, created_at, external_account_id, created_ip)
             VALUES ($1, 'valid', $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
            [id, JSON.stringify(account.jwk), account.thumbprint, JSON.stringify(account.contact), account.termsOfServiceAgreed, now, account.externalAccountId ?? null, account.createdFromIp ?? null],
          ))!;
          if (account.createdFromIp) await ctx.counters.add(tx, [{ scope: 'accounts:ip', key: account.createdFromIp, at: now }]);
          await tx.audit({ actor: `account:${id}`, action: 'account.created', subject: id, data: { contact: account.contact, externalAccountId: account.externalAccountId ?? null, ip: account.createdFromIp ?? null } });
          return toAccount(row);
        });
      } catch (e) {
        if (isUniqueViolation(e)) throw new ConflictError('an account with this key exists', await existing(account.thumbprint));
        throw e;
      }
    },

    async getAccount(id: string) {
      const row = await sql.row<AccountRow>('SELECT * FROM accounts WHERE id = $1', [id]);
      return row ? toAccount(row) : null;
    },

    async findAccountByThumbprint(thumbprint: string) {
      const row = await byThumbprint(thumbprint);
      return row ? toAccount(row) : null;
    },

    async updateAccountContact(id: string, contact: string[]) {
      return ctx.transaction(async (tx) => {
        const row = await tx.row<AccountRow>("UPDATE accounts SET contact = $1 WHERE id = $2 AND status = 'valid' RETURNING *", [JSON.stringify(contact), id]);
        if (!row) return null;
        await tx.audit({ actor: `account:${id}`, action: 'account.updated', subject: id, data: { contact } });
        return toAccount(row);
      });
    },

    async deactivateAccount(id: string) {
      return ctx.transaction(async (tx) => {
        const row = await tx.row<AccountRow>("UPDATE accounts SET status = 'deactivated' WHERE id = $1 AND status = 'valid' RETURNING *", [id]);
        if (!row) return null;
        await tx.run("UPDATE authzs SET status = 'deactivated' WHERE account_id = $1 AND status = 'pending'", [id]);
        await tx.audit({ actor: `account:${id}`, action: 'account.deactivated', subject: id });
        return toAccount(row);
      });
    },

    async changeAccountKey(id: string, oldThumbprint: string, jwk: JsonWebKeyPublic, thumbprint: string) {
      try {
        return await ctx.transaction(async (tx) => {
          const row = await tx.row<AccountRow>(
            "UPDATE accounts SET jwk = $1, thumbprint = $2 WHERE id = $3 AND thumbprint = $4 AND status = 'valid' RETURNING *",
            [JSON.stringify(jwk), thumbprint, id, oldThumbprint],
          );
          if (!row) return null;
          await tx.audit({ actor: `account:${id}`, action: 'account.key-changed', subject: id, data: { oldThumbprint, newThumbprint: thumbprint } });
          return toAccount(row);
        });
      } catch (e) {
        if (isUniqueViolation(e)) throw new ConflictError('another account holds the new key', await existing(thumbprint));
        throw e;
      }
    },

    async countAccountsFromIp(ip: string, since: Date) {
      return ctx.counters.window(sql, 'accounts:ip', ip, since.getTime(), Date.now());
    },
  };
}
