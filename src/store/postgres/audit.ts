/**
 * The audit log in PostgreSQL: appending events that are not part of another state change
 * (profile reloads, issuer rotations, admin reads) and reading it in order.
 */
import type { AuditStore } from '../store.js';
import type { AuditRecord } from '../types.js';
import { toAudit, type AuditRow } from '../shared/rows.js';
import type { PgContext } from './context.js';


export function auditMethods(ctx: PgContext): AuditStore {
  return {
    async appendAudit(event) {
      await ctx.transaction((tx) => tx.audit(event));
    },
    async auditHead() {
      // The chain head row every append moves (seq 0: nothing appended yet).
      const row = await ctx.sql.row<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1');
      return row && row.seq > 0 ? { seq: row.seq, hash: row.hash } : null;
    },
    async readAudit(afterSeq: number, limit: number): Promise<AuditRecord[]> {
      const rows = await ctx.sql.rows<AuditRow>('SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2', [afterSeq, limit]);
      return rows.map(toAudit);
    },
  };
}
