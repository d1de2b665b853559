/**
 * The audit log in SQLite: appending events that are not part of another state change (profile
 * reloads, issuer rotations, admin reads), reading it in order, and verifying the hash chain.
 */
import type { Store } from '../store.js';
import type { AuditRecord } from '../types.js';
import { auditHash, GENESIS_HASH, type SqliteContext } from './context.js';

type AuditMethods = Pick<Store, 'appendAudit' | 'readAudit'>;

interface AuditRow {
  seq: number;
  at: number;
  actor: string;
  action: string;
  subject: string;
  data: string;
  prev_hash: string;
  hash: string;
}

export function auditMethods(ctx: SqliteContext): AuditMethods {
  const page = ctx.db.prepare<[number, number], AuditRow>('SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?');
  return {
    async appendAudit(event) {
      ctx.db.transaction(() => ctx.audit(event))();
      await ctx.durable(undefined);
    },
    async readAudit(afterSeq: number, limit: number): Promise<AuditRecord[]> {
      return page.all(afterSeq, limit).map((r) => ({
        seq: r.seq,
        at: new Date(r.at),
        actor: r.actor,
        action: r.action,
        subject: r.subject,
        data: JSON.parse(r.data) as Record<string, unknown>,
        rawData: r.data,
        prevHash: r.prev_hash,
        hash: r.hash,
      }));
    },
  };
}

export interface AuditVerdict {
  ok: boolean;
  records: number;
  /** The first record that breaks the chain, and why. */
  problem?: { seq: number; reason: string };
}

/**
 * Walks the chain from the start: each record's hash must match its content and its predecessor,
 * and sequence numbers must be contiguous. An edited record fails its hash; an inserted or deleted
 * one breaks the link or the sequence at that point.
 */
export async function verifyAuditChain(store: Pick<Store, 'readAudit'>, batch = 1000): Promise<AuditVerdict> {
  let expectedSeq = 1;
  let prev = GENESIS_HASH;
  let records = 0;
  for (;;) {
    const rows = await store.readAudit(expectedSeq - 1, batch);
    if (rows.length === 0) return { ok: true, records };
    for (const r of rows) {
      if (r.seq !== expectedSeq) return { ok: false, records, problem: { seq: expectedSeq, reason: `record ${expectedSeq} is missing (next is ${r.seq})` } };
      if (r.prevHash !== prev) return { ok: false, records, problem: { seq: r.seq, reason: 'its prev_hash does not match the hash of the record before it' } };
      const recomputed = auditHash(r.prevHash, r.seq, r.at.getTime(), r.actor, r.action, r.subject, r.rawData);
      if (recomputed !== r.hash) return { ok: false, records, problem: { seq: r.seq, reason: 'its content does not match its hash (edited)' } };
      prev = r.hash;
      expectedSeq++;
      records++;
    }
  }
}
