/**
 * The audit log's hash chain, shared by every store backend: each record's hash covers its
 * predecessor's hash and its own content, so an edited, inserted or deleted record breaks the
 * chain at that point. The hash is an HMAC under a key derived from the CA key passphrase: with a
 * plain hash, anyone able to write the database could recompute the chain after an edit.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
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

/**
 * A checkpoint anchors the chain head outside the database: (seq, hash) of the newest record at a
 * time, MACed under a key derived from the same passphrase. The chain alone cannot show that its
 * newest records were removed (what is left is still a valid chain); a checkpoint kept elsewhere
 * (a file, the log stream) can: the chain must still reach its seq, with its hash there.
 */
export interface AuditCheckpoint {
  v: 1;
  seq: number;
  hash: string;
  /** When the checkpoint was taken (RFC 3339). */
  at: string;
  /** HMAC-SHA256 (hex) over the fields above under the checkpoint key. */
  mac: string;
}

function checkpointKey(auditKey: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', auditKey, 'anvil audit checkpoint', 'hmac-sha256 v1', 32));
}

function checkpointMac(auditKey: Uint8Array, seq: number, hash: string, at: string): string {
  return createHmac('sha256', checkpointKey(auditKey)).update(`anvil-audit-checkpoint v1\n${seq}\n${hash}\n${at}`).digest('hex');
}

/** A signed checkpoint of the chain head `(seq, hash)` taken at `at`. */
export function signCheckpoint(auditKey: Uint8Array, head: { seq: number; hash: string }, at: Date = new Date()): AuditCheckpoint {
  const when = at.toISOString();
  return { v: 1, seq: head.seq, hash: head.hash, at: when, mac: checkpointMac(auditKey, head.seq, head.hash, when) };
}

/** Whether a parsed value is a checkpoint signed with this audit key. */
export function checkpointValid(auditKey: Uint8Array, c: unknown): c is AuditCheckpoint {
  if (typeof c !== 'object' || c === null) return false;
  const x = c as Record<string, unknown>;
  if (x.v !== 1 || !Number.isInteger(x.seq) || (x.seq as number) < 0 || typeof x.hash !== 'string' || typeof x.at !== 'string' || typeof x.mac !== 'string') return false;
  const expected = checkpointMac(auditKey, x.seq as number, x.hash, x.at);
  return expected.length === x.mac.length && timingSafeEqual(Buffer.from(expected), Buffer.from(x.mac));
}

/**
 * The newest validly signed checkpoint in a text: a checkpoint file, or log lines (pino JSON lines
 * carrying a `checkpoint` member) — anything else in the text is skipped. Throws when the text has
 * checkpoints but none is signed with this key, and when it has none at all.
 */
export function latestCheckpoint(auditKey: Uint8Array, text: string): AuditCheckpoint {
  let best: AuditCheckpoint | undefined;
  let unsigned = 0;
  const candidates: unknown[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(trimmed) as Record<string, unknown>;
      candidates.push('checkpoint' in parsed ? parsed.checkpoint : parsed);
    } catch {
      // not a JSON line
    }
  }
  if (candidates.length === 0) {
    try {
      candidates.push(JSON.parse(text) as unknown);
    } catch {
      // not JSON either
    }
  }
  for (const c of candidates) {
    if (typeof c !== 'object' || c === null || !('mac' in c)) continue;
    if (!checkpointValid(auditKey, c)) {
      unsigned++;
      continue;
    }
    if (!best || c.seq > best.seq) best = c;
  }
  if (best) return best;
  throw new Error(unsigned > 0 ? `${unsigned} checkpoint(s) found, none signed with this CA's audit key (wrong passphrase, or forged)` : 'no audit checkpoint found in it');
}

/**
 * The chain verdict against a checkpoint: the chain must be intact, reach the checkpoint's seq,
 * and hold the checkpoint's hash at that seq. A log cut back below the checkpoint fails, naming
 * the records that are gone.
 */
export async function verifyAuditChainAgainst(store: Pick<Store, 'readAudit'>, key: Uint8Array, checkpoint: AuditCheckpoint): Promise<AuditVerdict> {
  const verdict = await verifyAuditChain(store, key);
  if (!verdict.ok) return verdict;
  if (verdict.records < checkpoint.seq) {
    return {
      ok: false,
      records: verdict.records,
      problem: {
        seq: verdict.records + 1,
        reason: `the log ends at record ${verdict.records}, but the checkpoint of ${checkpoint.at} names record ${checkpoint.seq}: records ${verdict.records + 1}–${checkpoint.seq} were removed`,
      },
    };
  }
  if (checkpoint.seq > 0) {
    const [at] = await store.readAudit(checkpoint.seq - 1, 1);
    if (!at || at.hash !== checkpoint.hash) {
      return { ok: false, records: verdict.records, problem: { seq: checkpoint.seq, reason: `its hash differs from the checkpoint of ${checkpoint.at}: the log was rewritten from there on (by someone holding the audit key)` } };
    }
  }
  return verdict;
}
