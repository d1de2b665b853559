/**
 * A certificate's place in its names' history in PostgreSQL (rules in ../shared/lineage-rules.ts):
 * its names, its predecessor, and the successor mark on earlier certificates of those names, each
 * one statement for all the names.
 */
import { choosePredecessor, lineageNames, renewalLead, type Lineage, type LineageInput } from '../shared/lineage-rules.js';
import type { Sql } from './sql.js';

export class LineageRecorder {
  /** Records a certificate's names and links; call inside the transaction that stores it. */
  async record(tx: Sql, c: LineageInput): Promise<Lineage> {
    const names = lineageNames(c.identifiers);
    const newest = await tx.row<{ certificate_id: string }>(
      'SELECT certificate_id FROM certificate_names WHERE name = ANY($1::text[]) AND issued_at <= $2 AND certificate_id != $3 ORDER BY issued_at DESC LIMIT 1',
      [names, c.issuedAt, c.id],
    );
    const predecessorId = choosePredecessor(c.replaces, newest?.certificate_id ?? null);
    await tx.run(
      'INSERT INTO certificate_names (name, issued_at, certificate_id) SELECT n, $2, $3 FROM unnest($1::text[]) AS n ON CONFLICT DO NOTHING',
      [names, c.issuedAt, c.id],
    );
    await this.markSuccessors(tx, c.id, names, c.issuedAt);
    if (!predecessorId) return { predecessorId, renewalLead: null };
    const p = await tx.row<{ not_before: number; renewal_start: number }>('SELECT not_before, renewal_start FROM certificates WHERE id = $1', [predecessorId]);
    return { predecessorId, renewalLead: renewalLead(p, c.issuedAt) };
  }

  /** A later certificate sharing one of these names (for rows recorded after their successors). */
  async laterCertificate(tx: Sql, c: LineageInput): Promise<string | null> {
    const row = await tx.row<{ certificate_id: string }>(
      'SELECT certificate_id FROM certificate_names WHERE name = ANY($1::text[]) AND issued_at > $2 AND certificate_id != $3 ORDER BY issued_at LIMIT 1',
      [lineageNames(c.identifiers), c.issuedAt, c.id],
    );
    return row?.certificate_id ?? null;
  }

  private async markSuccessors(tx: Sql, id: string, names: string[], issuedAt: number): Promise<void> {
    await tx.run(
      `UPDATE certificates SET successor_id = $1 WHERE successor_id IS NULL AND id IN (
         SELECT certificate_id FROM certificate_names WHERE name = ANY($2::text[]) AND issued_at < $3 AND certificate_id != $1)`,
      [id, names, issuedAt],
    );
  }
}
