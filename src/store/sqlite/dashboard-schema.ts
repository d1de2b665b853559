/**
 * Migration 30: what the operator dashboard reads, kept at write time by triggers so that no
 * dashboard request counts over all certificates. Triggers (not edits to the issuance and
 * revocation code paths) keep it independent of other migrations and of the code that writes
 * certificates; a backend without triggers (PostgreSQL) maintains the same tables in its writes.
 *
 * - dash_cert_names: one row per (name, certificate), ordered by expiry: the inventory's name index
 *   and the way a new certificate finds the certificates it succeeds.
 * - dash_successors: a certificate's successor, the first later certificate for one of its names
 *   (the anomaly detector's definition of "renewed").
 * - dash_hourly: issued certificates, failed validations and revocations per hour.
 * - dash_expiry: unrevoked certificates per (expiry hour, profile, issuer), and how many of them
 *   have a successor: live counts and "expires within 24 h with / without a successor".
 * - dash_ocsp: pre-signed OCSP answers per (issuer, certificate expiry hour, nextUpdate hour):
 *   how many live certificates have an overdue answer.
 */

const HOUR = 3_600_000;
const NOW_MS = `CAST(unixepoch('subsec') * 1000 AS INTEGER)`;

/** The dashboard's schema and its triggers; applied once, then back-filled from the existing rows. */
export const DASHBOARD_MIGRATION = {
  version: 30,
  sql: `
    CREATE TABLE dash_cert_names (
      name TEXT NOT NULL,
      not_after INTEGER NOT NULL,
      certificate_id TEXT NOT NULL,
      superseded INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (name, not_after, certificate_id)
    ) WITHOUT ROWID;
    CREATE INDEX dash_cert_names_current ON dash_cert_names(name) WHERE superseded = 0;
    CREATE TABLE dash_successors (
      certificate_id TEXT PRIMARY KEY,
      successor_id TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX dash_successors_by_successor ON dash_successors(successor_id);
    CREATE TABLE dash_hourly (
      metric TEXT NOT NULL,
      hour INTEGER NOT NULL,
      n INTEGER NOT NULL,
      PRIMARY KEY (metric, hour)
    ) WITHOUT ROWID;
    CREATE TABLE dash_expiry (
      hour INTEGER NOT NULL,
      profile TEXT NOT NULL,
      issuer_id TEXT NOT NULL,
      live INTEGER NOT NULL,
      renewed INTEGER NOT NULL,
      PRIMARY KEY (hour, profile, issuer_id)
    ) WITHOUT ROWID;
    CREATE TABLE dash_ocsp (
      issuer_id TEXT NOT NULL,
      expiry_hour INTEGER NOT NULL,
      next_hour INTEGER NOT NULL,
      n INTEGER NOT NULL,
      PRIMARY KEY (issuer_id, expiry_hour, next_hour)
    ) WITHOUT ROWID;

    -- Inventory filters, each ordered like the result pages (expiry, then id).
    CREATE INDEX dash_certificates_by_expiry ON certificates(not_after, id);
    CREATE INDEX dash_certificates_by_profile ON certificates(profile, not_after, id);
    CREATE INDEX dash_certificates_by_issuer ON certificates(issuer_id, not_after, id);
    CREATE INDEX dash_certificates_by_account ON certificates(account_id, not_after, id);
    CREATE INDEX dash_certificates_revoked ON certificates(not_after, id) WHERE revoked_at IS NOT NULL;
    CREATE INDEX dash_accounts_by_creation ON accounts(created_at, id);
    CREATE INDEX dash_audit_by_subject ON audit_log(subject, seq);
    CREATE INDEX dash_audit_by_actor ON audit_log(actor, seq);
    CREATE INDEX dash_audit_by_action ON audit_log(action, seq);

    CREATE TRIGGER dash_certificate_issued AFTER INSERT ON certificates BEGIN
      INSERT INTO dash_hourly (metric, hour, n) VALUES ('issued', NEW.issued_at / ${HOUR}, 1)
        ON CONFLICT (metric, hour) DO UPDATE SET n = n + 1;
      INSERT INTO dash_expiry (hour, profile, issuer_id, live, renewed)
        SELECT NEW.not_after / ${HOUR}, NEW.profile, NEW.issuer_id, 1, 0 WHERE NEW.revoked_at IS NULL
        ON CONFLICT (hour, profile, issuer_id) DO UPDATE SET live = live + 1;
      -- Joins over json_each, not IN (subquery) or DISTINCT: no temporary b-tree per issuance.
      INSERT OR IGNORE INTO dash_successors (certificate_id, successor_id)
        SELECT n.certificate_id, NEW.id FROM json_each(NEW.identifiers) j
        JOIN dash_cert_names n INDEXED BY dash_cert_names_current ON n.name = j.value ->> '$.value'
        WHERE n.superseded = 0 AND n.certificate_id != NEW.id;
      INSERT INTO dash_expiry (hour, profile, issuer_id, live, renewed)
        SELECT p.not_after / ${HOUR}, p.profile, p.issuer_id, 0, 1 FROM dash_successors s JOIN certificates p ON p.id = s.certificate_id
        WHERE s.successor_id = NEW.id AND p.revoked_at IS NULL
        ON CONFLICT (hour, profile, issuer_id) DO UPDATE SET renewed = renewed + 1;
      UPDATE dash_cert_names SET superseded = 1 FROM json_each(NEW.identifiers) j
        WHERE dash_cert_names.name = j.value ->> '$.value' AND dash_cert_names.superseded = 0 AND dash_cert_names.certificate_id != NEW.id;
      INSERT OR IGNORE INTO dash_cert_names (name, not_after, certificate_id)
        SELECT j.value ->> '$.value', NEW.not_after, NEW.id FROM json_each(NEW.identifiers) j WHERE true;
    END;

    CREATE TRIGGER dash_certificate_revoked AFTER UPDATE OF revoked_at ON certificates
      WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL BEGIN
      UPDATE dash_expiry SET live = live - 1,
          renewed = renewed - EXISTS (SELECT 1 FROM dash_successors WHERE certificate_id = NEW.id)
        WHERE hour = NEW.not_after / ${HOUR} AND profile = NEW.profile AND issuer_id = NEW.issuer_id;
      INSERT INTO dash_hourly (metric, hour, n) VALUES ('revoked', NEW.revoked_at / ${HOUR}, 1)
        ON CONFLICT (metric, hour) DO UPDATE SET n = n + 1;
    END;

    -- Retention purges expired certificates: their name rows and links go with them.
    CREATE TRIGGER dash_certificate_purged AFTER DELETE ON certificates BEGIN
      DELETE FROM dash_cert_names WHERE certificate_id = OLD.id AND not_after = OLD.not_after
        AND name IN (SELECT j.value ->> '$.value' FROM json_each(OLD.identifiers) j);
      UPDATE dash_expiry SET live = live - 1, renewed = renewed - EXISTS (SELECT 1 FROM dash_successors WHERE certificate_id = OLD.id)
        WHERE OLD.revoked_at IS NULL AND hour = OLD.not_after / ${HOUR} AND profile = OLD.profile AND issuer_id = OLD.issuer_id;
      DELETE FROM dash_successors WHERE certificate_id = OLD.id;
    END;

    CREATE TRIGGER dash_validation_failed AFTER UPDATE OF status ON challenges
      WHEN NEW.status = 'invalid' AND OLD.status != 'invalid' BEGIN
      INSERT INTO dash_hourly (metric, hour, n) VALUES ('failed', COALESCE(NEW.finished_at, ${NOW_MS}) / ${HOUR}, 1)
        ON CONFLICT (metric, hour) DO UPDATE SET n = n + 1;
    END;

    CREATE TRIGGER dash_ocsp_inserted AFTER INSERT ON ocsp_responses BEGIN
      INSERT INTO dash_ocsp (issuer_id, expiry_hour, next_hour, n)
        SELECT c.issuer_id, c.not_after / ${HOUR}, NEW.next_update / ${HOUR}, 1 FROM certificates c WHERE c.id = NEW.certificate_id
        ON CONFLICT (issuer_id, expiry_hour, next_hour) DO UPDATE SET n = n + 1;
    END;

    CREATE TRIGGER dash_ocsp_updated AFTER UPDATE OF next_update ON ocsp_responses BEGIN
      UPDATE dash_ocsp SET n = n - 1 WHERE next_hour = OLD.next_update / ${HOUR}
        AND (issuer_id, expiry_hour) IN (SELECT c.issuer_id, c.not_after / ${HOUR} FROM certificates c WHERE c.id = OLD.certificate_id);
      INSERT INTO dash_ocsp (issuer_id, expiry_hour, next_hour, n)
        SELECT c.issuer_id, c.not_after / ${HOUR}, NEW.next_update / ${HOUR}, 1 FROM certificates c WHERE c.id = NEW.certificate_id
        ON CONFLICT (issuer_id, expiry_hour, next_hour) DO UPDATE SET n = n + 1;
    END;

    -- Back-fill from the rows written before this migration (once; later rows go through the triggers).
    INSERT OR IGNORE INTO dash_cert_names (name, not_after, certificate_id, superseded)
      SELECT name, not_after, id, 0 FROM (
        SELECT DISTINCT json_extract(j.value, '$.value') AS name, c.not_after, c.id FROM certificates c, json_each(c.identifiers) j);
    INSERT OR IGNORE INTO dash_successors (certificate_id, successor_id)
      SELECT id, next_id FROM (
        SELECT c.id, c.issued_at, LEAD(c.id) OVER (PARTITION BY n.name ORDER BY c.issued_at, c.id) AS next_id
        FROM dash_cert_names n JOIN certificates c ON c.id = n.certificate_id)
      WHERE next_id IS NOT NULL ORDER BY issued_at;
    UPDATE dash_cert_names SET superseded = 1 WHERE EXISTS (
      SELECT 1 FROM dash_cert_names later JOIN certificates lc ON lc.id = later.certificate_id JOIN certificates me ON me.id = dash_cert_names.certificate_id
      WHERE later.name = dash_cert_names.name AND (lc.issued_at, lc.id) > (me.issued_at, me.id));
    INSERT INTO dash_hourly (metric, hour, n) SELECT 'issued', issued_at / ${HOUR}, COUNT(*) FROM certificates GROUP BY 2;
    INSERT INTO dash_hourly (metric, hour, n) SELECT 'revoked', revoked_at / ${HOUR}, COUNT(*) FROM certificates WHERE revoked_at IS NOT NULL GROUP BY 2;
    INSERT INTO dash_hourly (metric, hour, n)
      SELECT 'failed', finished_at / ${HOUR}, COUNT(*) FROM challenges WHERE status = 'invalid' AND finished_at IS NOT NULL GROUP BY 2;
    INSERT INTO dash_expiry (hour, profile, issuer_id, live, renewed)
      SELECT c.not_after / ${HOUR}, c.profile, c.issuer_id, COUNT(*), COUNT(s.certificate_id)
      FROM certificates c LEFT JOIN dash_successors s ON s.certificate_id = c.id WHERE c.revoked_at IS NULL GROUP BY 1, 2, 3;
    INSERT INTO dash_ocsp (issuer_id, expiry_hour, next_hour, n)
      SELECT c.issuer_id, c.not_after / ${HOUR}, o.next_update / ${HOUR}, COUNT(*)
      FROM ocsp_responses o JOIN certificates c ON c.id = o.certificate_id GROUP BY 1, 2, 3;
  `,
};
