/**
 * What every part of the PostgreSQL store shares: the bounded connection pool, the transaction
 * helper (retried on serialization failure and deadlock), and the audit chain, which each state
 * change appends to inside its own transaction under a lock on the chain's head row.
 */
import pg from 'pg';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { auditHash } from '../audit-chain.js';
import { packDer } from '../shared/der-at-rest.js';
import type { AuditEvent } from '../types.js';
import { Counters } from './counters.js';
import { LineageRecorder } from './lineage.js';
import { isRetryable, mapError, Sql } from './sql.js';

export interface PostgresStoreOptions {
  /** The audit chain's HMAC key (auditKeyFrom the key passphrase). */
  auditKey: Uint8Array;
  /** Most connections this instance opens (default 10). Size it so instances × max stays under the server's max_connections. */
  maxConnections?: number;
  /** Longest wait for a connection, from the pool or a new one (default 5 s). */
  connectTimeoutMs?: number;
  /** Longest a statement may run on the server (default 15 s). */
  statementTimeoutMs?: number;
  /** Server-side end of a transaction left idle, e.g. by a stalled instance (default 30 s). */
  idleInTransactionTimeoutMs?: number;
  /** How often a transaction is run again after a serialization failure or deadlock (default 5). */
  maxRetries?: number;
  /** Shown in pg_stat_activity (default `anvil`). */
  applicationName?: string;
}

// BIGINT (int8, times in ms) and NUMERIC (SUM of int8) as JavaScript numbers: every value the
// store keeps fits in 2^53.
const NUMBER_TYPES = new Set([20, 1700]);
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    NUMBER_TYPES.has(oid) && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** One transaction's connection: statements, plus the audit append that must run inside it. */
export class Tx extends Sql {
  /** Set once the audit append has committed the transaction with it. */
  committed = false;

  constructor(
    readonly client: pg.PoolClient,
    private readonly ctx: PgContext,
  ) {
    super(client);
  }

  /**
   * Appends to the audit log and commits the transaction in the same round trip: the append
   * locks the chain head, which every audited write of every instance waits for, so it holds it
   * no longer than it must. It is therefore the last statement of its transaction.
   */
  async audit(event: AuditEvent): Promise<void> {
    await this.ctx.audit(this, event);
    this.committed = true;
  }

  protected override query<T extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<T>> {
    if (this.committed) throw new Error('statement after the audit append: the transaction has already committed');
    return super.query<T>(text, values);
  }
}

export class PgContext {
  readonly pool: pg.Pool;
  /** Statements outside a transaction (single reads and single-statement writes). */
  readonly sql: Sql;
  /** Event counters kept at write time (rate limits, baselines, expiry gauges). */
  readonly counters = new Counters();
  /** Certificate names and renewal links, recorded at issuance. */
  readonly lineage = new LineageRecorder();
  private readonly maxRetries: number;

  constructor(
    url: string,
    private readonly options: PostgresStoreOptions,
  ) {
    this.pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      idleTimeoutMillis: 30_000,
      statement_timeout: options.statementTimeoutMs ?? 15_000,
      idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? 30_000,
      application_name: options.applicationName ?? 'anvil',
      // TCP keep-alive notices a server that vanished without closing (a failed-over primary);
      // recycling connections after a while moves them to whatever the URL names now.
      keepAlive: true,
      maxLifetimeSeconds: 600,
      types,
    });
    // An idle connection that the server drops (restart, failover) must not crash the process:
    // the pool discards it and the next checkout opens a new one.
    this.pool.on('error', () => undefined);
    this.sql = new Sql(this.pool);
    this.maxRetries = options.maxRetries ?? 5;
  }

  /**
   * Runs `fn` in one transaction (READ COMMITTED; compare-and-swap updates re-check their WHERE
   * on the newest row version). A serialization failure or deadlock rolls back and runs `fn`
   * again with a short randomized back-off, so `fn` must not keep state outside the database
   * between attempts. A unique violation surfaces as ConflictError, a lost or refused connection
   * as StoreUnavailableError (never retried here: a COMMIT cut off may or may not have landed).
   */
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const client = await this.pool.connect().catch((e: unknown) => {
        throw mapError(e);
      });
      let broken = false;
      // The pool listens for errors only on idle connections: one lost while this transaction
      // holds it would otherwise be an unhandled 'error' event and end the process. The lost
      // connection's queries reject on their own; this only marks it for destruction.
      const onError = () => (broken = true);
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const tx = new Tx(client, this);
        const value = await fn(tx);
        if (!tx.committed) await client.query('COMMIT');
        return value;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => (broken = true));
        // Statements run through Tx arrive mapped already; BEGIN/COMMIT failures do not.
        if (isRetryable(e) && attempt < this.maxRetries) {
          await sleep(Math.random() * 10 * 2 ** attempt);
          continue;
        }
        throw mapError(e);
      } finally {
        // A connection whose ROLLBACK failed is in an unknown state: destroy it.
        client.removeListener('error', onError);
        client.release(broken);
      }
    }
  }

  /**
   * Appends to the hash-chained audit log as the end of the transaction of the change it
   * records, and commits it. The one-row audit_head is locked FOR UPDATE, so appends from every
   * instance sharing the database queue on it: the chain stays linear, and a rolled-back change
   * leaves no record. The record, the new head and COMMIT go in one simple-protocol query (values
   * as escaped literals: that protocol takes no parameters), so the head is held for one round trip.
   */
  async audit(tx: Tx, event: AuditEvent): Promise<void> {
    const head = await tx.row<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE');
    if (!head) throw new Error('audit_head is missing: the schema is incomplete');
    const seq = head.seq + 1;
    const at = Date.now();
    const data = JSON.stringify(event.data ?? {});
    const hash = auditHash(this.options.auditKey, head.hash, seq, at, event.actor, event.action, event.subject, data);
    const text = [event.actor, event.action, event.subject, data, head.hash, hash].map((v) => tx.client.escapeLiteral(v));
    try {
      await tx.client.query(
        `INSERT INTO audit_log (seq, at, actor, action, subject, data, prev_hash, hash) VALUES (${seq}, ${at}, ${text.join(', ')});
         UPDATE audit_head SET seq = ${seq}, hash = ${text[5]} WHERE id = 1;
         COMMIT`,
      );
    } catch (e) {
      throw mapError(e);
    }
  }

  /** The id of a stored chain (the PEM after the leaf), stored once per distinct chain. */
  async chainId(tx: Sql, pem: string): Promise<number> {
    return (await this.chain(tx, pem)).id;
  }

  /**
   * A stored chain (stored once per distinct chain) and the leaf DER its certificates are
   * compressed against (see ../shared/der-at-rest.ts), null until its first leaf is stored.
   */
  private async chain(tx: Sql, pem: string): Promise<{ id: number; dictionary: Buffer | null }> {
    // Looked up each time, not cached: a cached id from a transaction that rolled back would name
    // a row that is gone. The read comes first so that issuers' common case takes no row lock.
    const sha256 = createHash('sha256').update(pem).digest('hex');
    type ChainRow = { id: number; leaf_dictionary: Buffer | null };
    const select = 'SELECT id, leaf_dictionary FROM certificate_chains WHERE sha256 = $1';
    const found = await tx.row<ChainRow>(select, [sha256]);
    if (found) return { id: found.id, dictionary: found.leaf_dictionary };
    const inserted = await tx.row<{ id: number }>('INSERT INTO certificate_chains (sha256, pem) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING RETURNING id', [sha256, pem]);
    if (inserted) return { id: inserted.id, dictionary: null };
    // Another transaction stored it first (the insert waited for it to commit).
    const other = (await tx.row<ChainRow>(select, [sha256]))!;
    return { id: other.id, dictionary: other.leaf_dictionary };
  }

  /**
   * A leaf's stored chain and the stored form of its DER (see ../shared/der-at-rest.ts): deflated
   * against the chain's first leaf, which the first one becomes and is kept as is (a chain's
   * dictionary never changes once set). `dictionary` is what the stored form reads back with.
   */
  async packLeaf(tx: Sql, chainPem: string, der: Uint8Array): Promise<{ chainId: number; stored: Buffer; dictionary: Buffer | null }> {
    const chain = await this.chain(tx, chainPem);
    if (!chain.dictionary) {
      await tx.run('UPDATE certificate_chains SET leaf_dictionary = $1 WHERE id = $2 AND leaf_dictionary IS NULL', [Buffer.from(der), chain.id]);
    }
    return { chainId: chain.id, stored: packDer(der, chain.dictionary), dictionary: chain.dictionary };
  }

  /**
   * The stored form of an OCSP answer signed for `issuerId` (see ../shared/der-at-rest.ts):
   * deflated against the issuer's first stored answer, which shares its responder certificate,
   * names and algorithms. The first answer becomes that dictionary and is kept as is.
   */
  async packOcsp(tx: Sql, issuerId: string, der: Uint8Array): Promise<Buffer> {
    const found = await tx.row<{ der: Buffer }>('SELECT der FROM ocsp_dictionaries WHERE issuer_id = $1', [issuerId]);
    if (found) return packDer(der, found.der);
    // Another transaction adopting one at the same moment wins; this answer is then kept as is.
    await tx.run('INSERT INTO ocsp_dictionaries (issuer_id, der) VALUES ($1, $2) ON CONFLICT (issuer_id) DO NOTHING', [issuerId, Buffer.from(der)]);
    return packDer(der, null);
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
