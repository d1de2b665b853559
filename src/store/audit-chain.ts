/**
 * The audit log's hash chain, shared by every store backend: each record's hash covers its
 * predecessor's hash and its own content, so an edited, inserted or deleted record breaks the
 * chain at that point. The hash is an HMAC under a key derived from the CA key passphrase: with a
 * plain hash, anyone able to write the database could recompute the chain after an edit.
 */
import { createHmac, hkdfSync } from 'node:crypto';
import type { Store } from './store.js';

export const GENESIS_HASH = '0'.repeat(64);

/** The audit chain key: HKDF-SHA256 of the key passphrase, so whoever holds the CA keys' secret can verify. */
export function auditKeyFrom(passphrase: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', passphrase, 'anvil audit chain', 'hmac-sha256 v1', 32));
}

/** The hash of an audit record: HMAC-SHA256 over the previous hash and the record's canonical JSON. */
export function auditHash(key: Uint8Array, prevHash: string, seq: number, at: number, actor: string, action: string, subject: string, data: string): string {
  return createHmac('sha256', key).update(`${prevHash}\n${JSON.stringify([seq, at, actor, action, subject, data])}`).digest('hex');
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
export async function verifyAuditChain(store: Pick<Store, 'readAudit'>, key: Uint8Array, batch = 1000): Promise<AuditVerdict> {
  let expectedSeq = 1;
  let prev = GENESIS_HASH;
  let records = 0;
  for (;;) {
    const rows = await store.readAudit(expectedSeq - 1, batch);
    if (rows.length === 0) return { ok: true, records };
    for (const r of rows) {
      if (r.seq !== expectedSeq) return { ok: false, records, problem: { seq: expectedSeq, reason: `record ${expectedSeq} is missing (next is ${r.seq})` } };
      if (r.prevHash !== prev) return { ok: false, records, problem: { seq: r.seq, reason: 'its prev_hash does not match the hash of the record before it' } };
      const recomputed = auditHash(key, r.prevHash, r.seq, r.at.getTime(), r.actor, r.action, r.subject, r.rawData);
      if (recomputed !== r.hash) {
        return { ok: false, records, problem: { seq: r.seq, reason: 'its hash does not match its content under the audit key (edited, or inserted without the key)' } };
      }
      prev = r.hash;
      expectedSeq++;
      records++;
    }
  }
}
