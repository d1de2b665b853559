/**
 * The audit log as an attacker with write access to the data directory sees it (README
 * "Operations": append-only table, update/delete triggers, hash chain): reading records, copying a
 * stopped server's data directory, and editing, deleting or inserting rows with better-sqlite3
 * after dropping the append-only triggers.
 */
import { cpSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AuditRow } from '../../src/store/shared/rows.js';

/** One audit row as stored (snake_case columns): the store's own row shape. */
export type { AuditRow };

/** One line of `anvil audit export`. */
export interface ExportedRecord {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  data: Record<string, any>;
  prevHash: string;
  hash: string;
}

export const dbPathOf = (dataDir: string): string => path.join(dataDir, 'anvil.db');

/** Copies a stopped server's data directory to `target` (a fresh place to tamper with). */
export function copyDataDir(dataDir: string, target: string): string {
  cpSync(dataDir, target, { recursive: true });
  return target;
}

/** Opens the store file, runs `fn`, closes it again. */
export function withDb<T>(dataDir: string, fn: (db: Database.Database) => T): T {
  const db = new Database(dbPathOf(dataDir));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

export function auditRows(dataDir: string): AuditRow[] {
  return withDb(dataDir, (db) => db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as AuditRow[]);
}

/** What an attacker does first: remove the append-only triggers. */
export function dropAuditTriggers(db: Database.Database): void {
  db.exec('DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;');
}

/**
 * Inserts `row` as record `afterSeq + 1`, renumbering every later record one up (so the sequence
 * stays contiguous, as a careful forger would leave it).
 */
export function insertAuditRowAfter(db: Database.Database, afterSeq: number, row: Omit<AuditRow, 'seq'>): void {
  db.transaction(() => {
    // Two steps through negative numbers keep the INTEGER PRIMARY KEY unique during the shift.
    db.prepare('UPDATE audit_log SET seq = -(seq + 1) WHERE seq > ?').run(afterSeq);
    db.prepare('UPDATE audit_log SET seq = -seq WHERE seq < 0').run();
    db.prepare('INSERT INTO audit_log (seq, at, actor, action, subject, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
      afterSeq + 1,
      row.at,
      row.actor,
      row.action,
      row.subject,
      row.data,
      row.prev_hash,
      row.hash,
    );
  })();
}
