/**
 * A thin statement runner over a pool or one transaction's connection, and the mapping of
 * PostgreSQL error codes the store cares about.
 */
import type pg from 'pg';
import { ConflictError, StoreUnavailableError } from '../errors.js';

/** Runs statements with positional parameters ($1, $2...) and returns plain rows. */
export class Sql {
  constructor(protected readonly target: pg.Pool | pg.PoolClient) {}

  async rows<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
    return (await this.query<T>(text, values)).rows;
  }

  async row<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T | undefined> {
    return (await this.query<T>(text, values)).rows[0];
  }

  /** Runs a statement and returns how many rows it changed. */
  async run(text: string, values: unknown[] = []): Promise<number> {
    return (await this.query(text, values)).rowCount ?? 0;
  }

  protected async query<T extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<T>> {
    try {
      return await this.target.query<T>(text, values);
    } catch (e) {
      throw mapError(e);
    }
  }
}

const pgCode = (e: unknown): string | undefined => (typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined) as string | undefined;

/** serialization_failure and deadlock_detected: the transaction may simply be run again. */
export const isRetryable = (e: unknown): boolean => pgCode(e) === '40001' || pgCode(e) === '40P01';

/** Socket errors, and the server's connection_exception (08), admin/crash shutdown and "cannot connect now" (57P01–57P03). */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', '57P01', '57P02', '57P03']);
const UNAVAILABLE_MESSAGES = /timeout exceeded when trying to connect|Connection terminated|Client has encountered a connection error|connection timeout|Query read timeout/i;

/** Whether an error means the database cannot be reached right now (not that the request was wrong). */
export function isUnavailable(e: unknown): boolean {
  if (e instanceof StoreUnavailableError) return true;
  const code = pgCode(e);
  if (code && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
  if (e instanceof AggregateError) return e.errors.some(isUnavailable);
  return e instanceof Error && UNAVAILABLE_MESSAGES.test(e.message);
}

export const isUniqueViolation = (e: unknown): boolean => e instanceof ConflictError || pgCode(e) === '23505';

/**
 * A unique violation (23505) becomes the store's ConflictError, as the SQLite parts throw it; an
 * unreachable database becomes StoreUnavailableError (the cause kept for the log).
 */
export function mapError(e: unknown): unknown {
  if (e instanceof ConflictError || e instanceof StoreUnavailableError) return e;
  if (isUnavailable(e)) return new StoreUnavailableError(`PostgreSQL is unavailable: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  if (pgCode(e) === '23505') {
    const constraint = (e as { constraint?: string }).constraint;
    return new ConflictError(`a record with this value exists${constraint ? ` (${constraint})` : ''}`);
  }
  return e;
}
