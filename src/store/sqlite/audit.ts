/**
 * The audit log in SQLite: appending events that are not part of another state change (profile
 * reloads, issuer rotations, admin reads) and reading it in order.
 */
import type { AuditStore } from '../store.js';
import type { AuditRecord } from '../types.js';
import type { SqliteContext } from './context.js';
import { toAudit, type AuditRow } from './rows.js';


export function auditMethods(ctx: SqliteContext): AuditStore {
  const page = ctx.db.prepare<[number, number], AuditRow>('SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?');
  // The primary key's last entry: one index probe, whatever the log's length.
  const head = ctx.db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
  return {
    async appendAudit(event) {
      ctx.db.transaction(() => ctx.audit(event)).immediate();
      await ctx.durable(undefined);
    },
    async auditHead() {
      const row = head.get();
      return row ? { seq: row.seq, hash: row.hash } : null;
    },
    async readAudit(afterSeq: number, limit: number): Promise<AuditRecord[]> {
      return page.all(afterSeq, limit).map(toAudit);
    },
  };
}

