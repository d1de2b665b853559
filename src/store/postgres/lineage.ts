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
    type Timing = { id: string; not_before: number; renewal_start: number };
    // The newest earlier certificate of these names is only looked up when `replaces` does not
    // name the predecessor; either way its timing comes in the same statement.
    const newest = c.replaces
      ? undefined
      : await tx.row<Timing>(
          `SELECT p.id, p.not_before, p.renewal_start FROM certificate_names n JOIN certificates p ON p.id = n.certificate_id
           WHERE n.name = ANY($1::text[]) AND n.issued_at <= $2 AND n.certificate_id != $3 ORDER BY n.issued_at DESC LIMIT 1`,
          [names, c.issuedAt, c.id],
        );
    const predecessorId = choosePredecessor(c.replaces, newest?.id ?? null);
    const timing = c.replaces ? await tx.row<Timing>('SELECT id, not_before, renewal_start FROM certificates WHERE id = $1', [c.replaces]) : newest;
    // The names go in and the earlier certificates of those names get their successor in one
    // statement (the UPDATE reads only names issued before this certificate).
    await tx.run(
      `WITH named AS (
         INSERT INTO certificate_names (name, issued_at, certificate_id) SELECT n, $2, $3 FROM unnest($1::text[]) AS n ON CONFLICT DO NOTHING
       ) UPDATE certificates SET successor_id = $3 WHERE successor_id IS NULL AND id IN (
         SELECT certificate_id FROM certificate_names WHERE name = ANY($1::text[]) AND issued_at < $2 AND certificate_id != $3)`,
      [names, c.issuedAt, c.id],
    );
    return { predecessorId, renewalLead: predecessorId ? renewalLead(timing, c.issuedAt) : null };
  }

  /** A later certificate sharing one of these names (for rows recorded after their successors). */
  async laterCertificate(tx: Sql, c: LineageInput): Promise<string | null> {
    const row = await tx.row<{ certificate_id: string }>(
      'SELECT certificate_id FROM certificate_names WHERE name = ANY($1::text[]) AND issued_at > $2 AND certificate_id != $3 ORDER BY issued_at LIMIT 1',
      [lineageNames(c.identifiers), c.issuedAt, c.id],
    );
    return row?.certificate_id ?? null;
  }
}
