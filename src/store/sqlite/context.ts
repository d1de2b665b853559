/**
 * What every part of the SQLite store shares: the connection, durable acknowledgement (group
 * commit), and the audit chain, which each state change appends to inside its own transaction.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { auditHash, GENESIS_HASH } from '../audit-chain.js';
import { packDer } from '../shared/der-at-rest.js';
import type { AuditEvent } from '../types.js';
import { Counters } from './counters.js';
import { WalGroupCommit } from './group-commit.js';
import { LineageRecorder } from './lineage.js';
import { migrate } from './migrations.js';
import { WalCheckpointer } from './wal-checkpointer.js';

type ChainRow = { id: number; leaf_dictionary: Buffer | null };

/**
 * How commits reach the disk. `group` (default): each acknowledged write is fsynced, concurrent
 * writes share one fsync off the event loop (see group-commit.ts). `full`: SQLite fsyncs inside
 * every commit, on the event loop. `normal`: no fsync per commit; survives a process crash but
 * not a power loss.
 */
export type SqliteDurability = 'group' | 'full' | 'normal';

export interface SqliteStoreOptions {
  /** The audit chain's HMAC key (auditKeyFrom the key passphrase). */
  auditKey: Uint8Array;
  durability?: SqliteDurability;
  /** Checkpoint the WAL on a worker thread instead of inside commits on this thread (a serving process). */
  backgroundCheckpoints?: boolean;
}

export class SqliteContext {
  readonly db: Database.Database;
  /** Event counters kept at write time (rate limits, baselines, expiry gauges). */
  readonly counters: Counters;
  /** Certificate names and renewal links, recorded at issuance. */
  readonly lineage: LineageRecorder;
  private readonly groupCommit: WalGroupCommit | undefined;
  private readonly checkpointer: WalCheckpointer | undefined;
  private readonly lastAudit;
  private readonly chainByPem;
  private readonly insertChain;
  private readonly setDictionary;
  private readonly ocspDictionary;
  private readonly adoptOcspDictionary;
  private readonly insertAudit;

  constructor(
    readonly path: string,
    private readonly options: SqliteStoreOptions,
  ) {
    const durability = options.durability ?? 'group';
    this.db = new Database(path);
    // First, so that even the pragmas below wait for a lock held by another process. Write
    // transactions begin IMMEDIATE (`.immediate()` everywhere): a deferred one that reads and
    // then writes while another process (the server, an `anvil` command) commits fails at once
    // with SQLITE_BUSY instead of waiting.
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
    this.groupCommit = durability === 'group' ? new WalGroupCommit(`${path}-wal`) : undefined;
    this.db.pragma('foreign_keys = ON');
    // Index pages of random ids are touched all over a large store: keep more of them in memory
    // than SQLite's 2 MB default.
    this.db.pragma('cache_size = -65536');
    migrate(this.db);
    if (options.backgroundCheckpoints) {
      this.db.pragma('wal_autocheckpoint = 0');
      this.checkpointer = new WalCheckpointer(path);
    }
    this.counters = new Counters(this.db);
    this.lineage = new LineageRecorder(this.db);
    this.chainByPem = this.db.prepare<[string], ChainRow>('SELECT id, leaf_dictionary FROM certificate_chains WHERE sha256 = ?');
    this.insertChain = this.db.prepare<[string, string], ChainRow>(
      'INSERT INTO certificate_chains (sha256, pem) VALUES (?, ?) ON CONFLICT (sha256) DO UPDATE SET pem = pem RETURNING id, leaf_dictionary',
    );
    this.setDictionary = this.db.prepare<[Buffer, number]>('UPDATE certificate_chains SET leaf_dictionary = ? WHERE id = ? AND leaf_dictionary IS NULL');
    this.ocspDictionary = this.db.prepare<[string], { der: Buffer }>('SELECT der FROM ocsp_dictionaries WHERE issuer_id = ?');
    this.adoptOcspDictionary = this.db.prepare<[string, Buffer]>('INSERT INTO ocsp_dictionaries (issuer_id, der) VALUES (?, ?) ON CONFLICT (issuer_id) DO NOTHING');
    this.lastAudit = this.db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    this.insertAudit = this.db.prepare(
      'INSERT INTO audit_log (seq, at, actor, action, subject, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
  }

  /** Resolves once the writes made so far are durable (a no-op unless durability is `group`). */
  durable<T>(value: T): Promise<T> | T {
    return this.groupCommit ? this.groupCommit.flush().then(() => value) : value;
  }

  /**
   * Appends to the hash-chained audit log. Must run inside the transaction of the change it
   * records, so both commit or neither; SQLite's single writer keeps the chain linear.
   */
  audit(event: AuditEvent): void {
    const last = this.lastAudit.get();
    const seq = (last?.seq ?? 0) + 1;
    const prev = last?.hash ?? GENESIS_HASH;
    const at = Date.now();
    const data = JSON.stringify(event.data ?? {});
    this.insertAudit.run(seq, at, event.actor, event.action, event.subject, data, prev, auditHash(this.options.auditKey, prev, seq, at, event.actor, event.action, event.subject, data));
  }

  /** The id of a stored chain (the PEM after the leaf), stored once per distinct chain. */
  chainId(pem: string): number {
    return this.chain(pem).id;
  }

  /**
   * A stored chain (stored once per distinct chain) and the leaf DER its certificates are
   * compressed against (see ../shared/der-at-rest.ts), null until its first leaf is stored.
   */
  private chain(pem: string): { id: number; dictionary: Buffer | null } {
    // Looked up each time, not cached: a cached id from a transaction that rolled back would name
    // a row that is gone.
    const sha256 = createHash('sha256').update(pem).digest('hex');
    const row = this.chainByPem.get(sha256) ?? this.insertChain.get(sha256, pem)!;
    return { id: row.id, dictionary: row.leaf_dictionary };
  }

  /**
   * The stored form of an OCSP answer signed for `issuerId` (see ../shared/der-at-rest.ts):
   * deflated against the issuer's first stored answer, which shares its responder certificate,
   * names and algorithms. The first answer becomes that dictionary and is kept as is.
   */
  packOcsp(issuerId: string, der: Uint8Array): Buffer {
    const found = this.ocspDictionary.get(issuerId);
    if (found) return packDer(der, found.der);
    this.adoptOcspDictionary.run(issuerId, Buffer.from(der));
    return packDer(der, null);
  }

  /**
   * A leaf's stored chain and the stored form of its DER (see ../shared/der-at-rest.ts): deflated
   * against the chain's first leaf, which the first one becomes and is kept as is (a chain's
   * dictionary never changes once set).
   */
  packLeaf(chainPem: string, der: Uint8Array): { chainId: number; stored: Buffer } {
    const chain = this.chain(chainPem);
    if (!chain.dictionary) this.setDictionary.run(Buffer.from(der), chain.id);
    return { chainId: chain.id, stored: packDer(der, chain.dictionary) };
  }

  close(): Promise<void> {
    return (async () => {
      if (this.groupCommit) await this.groupCommit.flush().catch(() => undefined);
      this.groupCommit?.close();
      await this.checkpointer?.close();
      if (this.db.open) this.db.close();
    })();
  }
}

export const isUniqueViolation = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && (e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE';
