/**
 * Schema migrations for the SQLite store, applied in order inside one transaction each.
 * Never edit a released migration: add a new one.
 */
import type { Database } from 'better-sqlite3';
import { DASHBOARD_MIGRATION } from './dashboard-schema.js';

const MIGRATIONS: { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        jwk TEXT NOT NULL,
        thumbprint TEXT NOT NULL UNIQUE,
        contact TEXT NOT NULL,
        tos_agreed INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE orders (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        status TEXT NOT NULL,
        identifiers TEXT NOT NULL,
        profile TEXT NOT NULL,
        not_before INTEGER,
        not_after INTEGER,
        expires_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        error TEXT,
        csr BLOB,
        certificate_id TEXT
      );
      CREATE INDEX orders_by_account ON orders(account_id, created_at, id);
      CREATE INDEX orders_processing ON orders(status) WHERE status = 'processing';
      CREATE TABLE authzs (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        identifier_type TEXT NOT NULL,
        identifier_value TEXT NOT NULL,
        wildcard INTEGER NOT NULL,
        status TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        validated_at INTEGER
      );
      CREATE INDEX authzs_by_identifier ON authzs(account_id, identifier_type, identifier_value, status);
      CREATE TABLE order_authzs (
        order_id TEXT NOT NULL REFERENCES orders(id),
        position INTEGER NOT NULL,
        authz_id TEXT NOT NULL REFERENCES authzs(id),
        PRIMARY KEY (order_id, position)
      );
      CREATE TABLE challenges (
        id TEXT PRIMARY KEY,
        authz_id TEXT NOT NULL REFERENCES authzs(id),
        type TEXT NOT NULL,
        token TEXT NOT NULL,
        status TEXT NOT NULL,
        validated_at INTEGER,
        error TEXT,
        validation_record TEXT
      );
      CREATE INDEX challenges_by_authz ON challenges(authz_id);
      CREATE INDEX challenges_processing ON challenges(status) WHERE status = 'processing';
      CREATE TABLE serials (
        serial TEXT PRIMARY KEY,
        issuer_id TEXT NOT NULL,
        order_id TEXT NOT NULL,
        reserved_at INTEGER NOT NULL
      );
      CREATE TABLE certificates (
        id TEXT PRIMARY KEY,
        serial TEXT NOT NULL UNIQUE REFERENCES serials(serial),
        issuer_id TEXT NOT NULL,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        order_id TEXT NOT NULL REFERENCES orders(id),
        profile TEXT NOT NULL,
        identifiers TEXT NOT NULL,
        not_before INTEGER NOT NULL,
        not_after INTEGER NOT NULL,
        der BLOB NOT NULL,
        chain_pem TEXT NOT NULL,
        spki_sha256 TEXT NOT NULL,
        issued_at INTEGER NOT NULL,
        revoked_at INTEGER,
        revocation_reason INTEGER
      );
      CREATE INDEX certificates_by_account ON certificates(account_id);
    `,
  },
  {
    // Revocation: CRL shards, pre-signed OCSP responses, blocked keys, published CRLs.
    version: 2,
    sql: `
      ALTER TABLE certificates ADD COLUMN crl_shard INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE certificates ADD COLUMN invalidity_date INTEGER;
      CREATE INDEX certificates_revoked ON certificates(issuer_id, crl_shard, not_after) WHERE revoked_at IS NOT NULL;
      CREATE INDEX certificates_by_expiry ON certificates(not_after);
      CREATE TABLE ocsp_responses (
        certificate_id TEXT PRIMARY KEY REFERENCES certificates(id),
        der BLOB NOT NULL,
        this_update INTEGER NOT NULL,
        next_update INTEGER NOT NULL,
        revoked INTEGER NOT NULL
      );
      CREATE INDEX ocsp_responses_by_next_update ON ocsp_responses(next_update);
      CREATE TABLE blocked_keys (
        spki_sha256 TEXT PRIMARY KEY,
        certificate_id TEXT,
        blocked_at INTEGER NOT NULL
      );
      CREATE TABLE crls (
        issuer_id TEXT NOT NULL,
        shard INTEGER NOT NULL,
        number INTEGER NOT NULL,
        this_update INTEGER NOT NULL,
        next_update INTEGER NOT NULL,
        der BLOB NOT NULL,
        PRIMARY KEY (issuer_id, shard)
      );
      CREATE TABLE crl_numbers (
        issuer_id TEXT PRIMARY KEY,
        last_number INTEGER NOT NULL
      );
      CREATE TABLE crl_dirty (
        issuer_id TEXT NOT NULL,
        shard INTEGER NOT NULL,
        marked_at INTEGER NOT NULL,
        PRIMARY KEY (issuer_id, shard)
      );
    `,
  },
  {
    // Profiles and ARI: the profile version each certificate was issued under, its suggested
    // renewal window, the certificate an order replaces, and operator-triggered fleet renewals.
    version: 3,
    sql: `
      ALTER TABLE accounts ADD COLUMN external_account_id TEXT;
      ALTER TABLE certificates ADD COLUMN profile_hash TEXT NOT NULL DEFAULT '';
      ALTER TABLE certificates ADD COLUMN renewal_start INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE certificates ADD COLUMN renewal_end INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE orders ADD COLUMN replaces TEXT REFERENCES certificates(id);
      CREATE INDEX orders_by_replaces ON orders(replaces) WHERE replaces IS NOT NULL;
      CREATE TABLE renewal_triggers (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        triggered_at INTEGER NOT NULL,
        PRIMARY KEY (scope, name)
      );
    `,
  },
  {
    // Internal identity: External Account Binding credentials (HMAC keys sealed, never plain)
    // with their name policies, and the jti of every workload-identity token used.
    version: 4,
    sql: `
      CREATE TABLE eab_credentials (
        kid TEXT PRIMARY KEY,
        hmac_key_sealed BLOB NOT NULL,
        policy TEXT NOT NULL,
        note TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
      );
      CREATE TABLE used_tokens (
        issuer TEXT NOT NULL,
        jti TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (issuer, jti)
      );
      CREATE INDEX used_tokens_by_expiry ON used_tokens(expires_at);
    `,
  },
  {
    // RFC 9773 §5: an order reflects `replaces` exactly as the client sent it.
    version: 5,
    sql: `ALTER TABLE orders ADD COLUMN replaces_cert_id TEXT;`,
  },
  {
    // Operations: the hash-chained, append-only audit log; the address new accounts came from
    // and the names of each order (for rate limits); admin tokens (stored hashed).
    version: 6,
    sql: `
      CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        data TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
      ALTER TABLE accounts ADD COLUMN created_ip TEXT;
      CREATE INDEX accounts_by_ip ON accounts(created_ip, created_at);
      CREATE TABLE order_names (
        order_id TEXT NOT NULL REFERENCES orders(id),
        name TEXT NOT NULL,
        registered_domain TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX order_names_by_domain ON order_names(registered_domain, created_at);
      CREATE INDEX orders_by_profile ON orders(profile, created_at);
      CREATE INDEX challenges_failed ON challenges(status, validated_at);
      ALTER TABLE challenges ADD COLUMN finished_at INTEGER;
      CREATE INDEX challenges_by_finish ON challenges(finished_at) WHERE status = 'invalid';
      CREATE TABLE admin_tokens (
        id TEXT PRIMARY KEY,
        token_sha256 TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
      );
    `,
  },
  {
    // Each revoked certificate's CRL entry, encoded once at revocation, in a narrow table ordered
    // as the full CRL lists them: a CRL of a million entries is one range read and a concatenation.
    version: 7,
    sql: `
      CREATE TABLE crl_entries (
        issuer_id TEXT NOT NULL,
        revoked_at INTEGER NOT NULL,
        serial TEXT NOT NULL REFERENCES certificates(serial),
        shard INTEGER NOT NULL,
        not_after INTEGER NOT NULL,
        entry BLOB NOT NULL,
        PRIMARY KEY (issuer_id, revoked_at, serial)
      ) WITHOUT ROWID;
      CREATE INDEX crl_entries_by_shard ON crl_entries(issuer_id, shard, revoked_at, serial);
      CREATE UNIQUE INDEX crl_entries_by_serial ON crl_entries(serial);
    `,
  },
  {
    // Flat cost at any store size. Each certificate's names (and its link to the certificate it
    // renews) are recorded at issuance, so the anomaly scans read only the window they look at;
    // the chain after the leaf is kept once per issuer instead of once per certificate; event
    // counters in fixed-size time buckets replace COUNT(*) over a window for rate limits, issuance
    // baselines and expiry gauges; due OCSP work is an indexed queue; maintenance tasks keep
    // cursors. Existing rows are moved by bounded background batches (see maintenance.ts).
    version: 8,
    sql: `
      CREATE TABLE certificate_names (
        name TEXT NOT NULL,
        issued_at INTEGER NOT NULL,
        certificate_id TEXT NOT NULL,
        PRIMARY KEY (name, issued_at, certificate_id)
      ) WITHOUT ROWID;
      CREATE TABLE certificate_chains (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        pem TEXT NOT NULL
      );
      ALTER TABLE certificates ADD COLUMN chain_id INTEGER REFERENCES certificate_chains(id);
      ALTER TABLE certificates ADD COLUMN predecessor_id TEXT;
      ALTER TABLE certificates ADD COLUMN successor_id TEXT;
      ALTER TABLE certificates ADD COLUMN renewal_lead REAL;
      CREATE INDEX certificates_unrenewed ON certificates(not_after) WHERE successor_id IS NULL AND revoked_at IS NULL;
      CREATE INDEX certificates_early ON certificates(issued_at) WHERE renewal_lead > 0;
      CREATE INDEX certificates_unindexed ON certificates(issued_at) WHERE chain_id IS NULL;
      DROP INDEX certificates_by_account;
      CREATE INDEX certificates_by_account ON certificates(account_id, not_after);
      CREATE INDEX certificates_by_issuer ON certificates(issuer_id, not_after);
      CREATE INDEX certificates_by_profile ON certificates(profile, not_after);
      CREATE TABLE counters (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        width INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (scope, key, width, bucket)
      ) WITHOUT ROWID;
      CREATE INDEX counters_by_bucket ON counters(scope, width, bucket);
      ALTER TABLE ocsp_responses ADD COLUMN refresh_at INTEGER;
      CREATE INDEX ocsp_responses_due ON ocsp_responses(refresh_at) WHERE refresh_at IS NOT NULL;
      DROP INDEX ocsp_responses_by_next_update;
      CREATE TABLE ocsp_pending (
        certificate_id TEXT PRIMARY KEY REFERENCES certificates(id),
        due_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE maintenance_cursors (
        task TEXT PRIMARY KEY,
        cursor TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
      DROP INDEX challenges_failed;
      DROP INDEX orders_by_profile;
      CREATE INDEX orders_by_expiry ON orders(expires_at);
      CREATE INDEX authzs_by_expiry ON authzs(expires_at);
      CREATE INDEX order_authzs_by_authz ON order_authzs(authz_id);
      CREATE INDEX order_names_by_age ON order_names(created_at);
    `,
  },
  {
    // Several processes or instances on one store: nonces redeemed once on any of them, leases
    // that let exactly one run each periodic task, and the instances' heartbeats.
    version: 9,
    sql: `
      CREATE TABLE used_nonces (
        id TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX used_nonces_by_expiry ON used_nonces(expires_at);
      CREATE TABLE leases (
        task TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        fence INTEGER NOT NULL,
        acquired_at INTEGER NOT NULL
      );
      CREATE TABLE instances (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        seen_at INTEGER NOT NULL
      );
      CREATE INDEX instances_by_seen ON instances(seen_at);
      -- Work in progress is claimed for a while: a claim that lapses (its process died) is taken
      -- over by another process or instance.
      ALTER TABLE challenges ADD COLUMN claimed_until INTEGER;
      ALTER TABLE orders ADD COLUMN claimed_until INTEGER;
      CREATE TABLE shared_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
    `,
  },
  {
    // Deleting an order (retention) makes SQLite check the foreign keys that name it: without an
    // index on the referencing column, each check reads every certificate (or legacy order name).
    version: 10,
    sql: `
      CREATE INDEX certificates_by_order ON certificates(order_id);
      CREATE INDEX order_names_by_order ON order_names(order_id);
    `,
  },
];

/** Migrations that build on the dashboard's (30). */
const AFTER_DASHBOARD: { version: number; sql: string }[] = [
  {
    // The dashboard's (column, not_after, id) indexes serve every query these (column, not_after)
    // ones did: keeping both cost about 150 bytes per certificate.
    version: 31,
    sql: `
      DROP INDEX IF EXISTS certificates_by_expiry;
      DROP INDEX IF EXISTS certificates_by_account;
      DROP INDEX IF EXISTS certificates_by_issuer;
      DROP INDEX IF EXISTS certificates_by_profile;
    `,
  },
  {
    // A chain's first leaf becomes the dictionary its later leaves' DER is deflated against
    // (../shared/der-at-rest.ts): about 390 of a P-256 leaf's 620 bytes. Rows stored before stay
    // as they are. Validation records are stored deflated (../shared/record-at-rest.ts); older
    // rows keep theirs as text. OCSP answers are stored deflated against their issuer's first
    // stored answer.
    version: 32,
    sql: `
      CREATE TABLE ocsp_dictionaries (issuer_id TEXT PRIMARY KEY, der BLOB NOT NULL);
      ALTER TABLE certificate_chains ADD COLUMN leaf_dictionary BLOB;
      ALTER TABLE challenges ADD COLUMN validation_record_packed BLOB;
    `,
  },
];

/** Applies every migration newer than the database's version; returns the resulting version. */
export function migrate(db: Database): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
  const applied = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?');
  const record = db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)');
  // Each migration is applied unless its own version is recorded (not "unless a higher one is"):
  // independent migrations numbered apart (the dashboard's 30) then apply in any order of arrival.
  for (const m of [...MIGRATIONS, DASHBOARD_MIGRATION, ...AFTER_DASHBOARD]) {
    // Read the version inside the write lock: two processes opening one database at once must
    // not both apply a migration.
    db.transaction(() => {
      if (applied.get(m.version) !== undefined) return;
      db.exec(m.sql);
      record.run(m.version, Date.now());
    }).immediate();
  }
  return (db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number }).v;
}
