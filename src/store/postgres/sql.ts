/**
 * A thin statement runner over a pool or one transaction's connection, and the mapping of
 * PostgreSQL error codes the store cares about.
 */
import type pg from 'pg';
import { ConflictError } from '../errors.js';

/** Runs statements with positional parameters ($1, $2...) and returns plain rows. */
export class Sql {
  constructor(protected readonly target: pg.Pool | pg.PoolClient) {}

  async rows<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
    return (await this.target.query<T>(text, values)).rows;
  }

  async row<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T | undefined> {
    return (await this.target.query<T>(text, values)).rows[0];
  }

  /** Runs a statement and returns how many rows it changed. */
  async run(text: string, values: unknown[] = []): Promise<number> {
    return (await this.target.query(text, values)).rowCount ?? 0;
  }
}

const pgCode = (e: unknown): string | undefined => (typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined) as string | undefined;

/** serialization_failure and deadlock_detected: the transaction may simply be run again. */
export const isRetryable = (e: unknown): boolean => pgCode(e) === '40001' || pgCode(e) === '40P01';

export const isUniqueViolation = (e: unknown): boolean => e instanceof ConflictError || pgCode(e) === '23505';

/** A unique violation (23505) becomes the store's ConflictError, as the SQLite parts throw it. */
export function mapError(e: unknown): unknown {
  if (pgCode(e) === '23505') {
    const constraint = (e as { constraint?: string }).constraint;
    return new ConflictError(`a record with this value exists${constraint ? ` (${constraint})` : ''}`);
  }
  return e;
}
