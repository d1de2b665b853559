/**
 * A certificate's place in its names' history, recorded when it is issued: its names (one row
 * each, indexed by name), the certificate it renews (`replaces`, or else the newest earlier
 * certificate sharing a name) and, on that predecessor and every other earlier certificate of
 * those names still without one, its successor. The anomaly scans then read an index of what
 * they look for instead of joining every certificate's names against every other's.
 */
import type { Database } from 'better-sqlite3';
import { choosePredecessor, lineageNames, renewalLead, type Lineage, type LineageInput } from '../shared/lineage-rules.js';

export type { Lineage, LineageInput } from '../shared/lineage-rules.js';

export class LineageRecorder {
  private readonly insertName;
  private readonly newestBefore;
  private readonly certTiming;
  private readonly markSuccessors;
  private readonly laterExists;

  constructor(db: Database) {
    this.insertName = db.prepare<[string, number, string]>('INSERT OR IGNORE INTO certificate_names (name, issued_at, certificate_id) VALUES (?, ?, ?)');
    this.newestBefore = db.prepare<[string, number, string], { certificate_id: string; issued_at: number }>(
      'SELECT certificate_id, issued_at FROM certificate_names WHERE name = ? AND issued_at <= ? AND certificate_id != ? ORDER BY issued_at DESC LIMIT 1',
    );
    this.certTiming = db.prepare<[string], { not_before: number; renewal_start: number }>('SELECT not_before, renewal_start FROM certificates WHERE id = ?');
    this.markSuccessors = db.prepare<[string, string, number, string]>(
      `UPDATE certificates SET successor_id = ? WHERE successor_id IS NULL AND id IN (
         SELECT certificate_id FROM certificate_names WHERE name = ? AND issued_at < ? AND certificate_id != ?)`,
    );
    this.laterExists = db.prepare<[string, number, string], { certificate_id: string }>(
      'SELECT certificate_id FROM certificate_names WHERE name = ? AND issued_at > ? AND certificate_id != ? ORDER BY issued_at LIMIT 1',
    );
  }

  /** Records a certificate's names and links; call inside the transaction that stores it. */
  record(c: LineageInput): Lineage {
    const names = lineageNames(c.identifiers);
    let predecessor: { id: string; at: number } | null = null;
    for (const name of names) {
      const row = this.newestBefore.get(name, c.issuedAt, c.id);
      if (row && (!predecessor || row.issued_at > predecessor.at)) predecessor = { id: row.certificate_id, at: row.issued_at };
    }
    const predecessorId = choosePredecessor(c.replaces, predecessor?.id ?? null);
    for (const name of names) {
      this.insertName.run(name, c.issuedAt, c.id);
      this.markSuccessors.run(c.id, name, c.issuedAt, c.id);
    }
    return { predecessorId, renewalLead: predecessorId ? renewalLead(this.certTiming.get(predecessorId), c.issuedAt) : null };
  }

  /** A later certificate sharing one of these names (for rows recorded after their successors). */
  laterCertificate(c: LineageInput): string | null {
    for (const name of lineageNames(c.identifiers)) {
      const row = this.laterExists.get(name, c.issuedAt, c.id);
      if (row) return row.certificate_id;
    }
    return null;
  }
}
