/**
 * PostgreSQL migration 3 (SQLite's 30): the operator dashboard's tables, kept at write time by
 * triggers exactly as in SQLite (see ../sqlite/dashboard-schema.ts for what each table holds), so
 * that no dashboard request counts over all certificates; then back-filled from existing rows.
 */
const H = 3_600_000;
const ident = (row: 'NEW' | 'OLD') => `jsonb_array_elements(${row}.identifiers::jsonb)`;

export const DASHBOARD_MIGRATION_SQL = `
  CREATE TABLE dash_cert_names (
    name TEXT NOT NULL,
    not_after BIGINT NOT NULL,
    certificate_id TEXT NOT NULL,
    superseded SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY (name, not_after, certificate_id)
  );
  CREATE INDEX dash_cert_names_current ON dash_cert_names(name) WHERE superseded = 0;
  CREATE TABLE dash_successors (
    certificate_id TEXT PRIMARY KEY,
    successor_id TEXT NOT NULL
  );
  CREATE INDEX dash_successors_by_successor ON dash_successors(successor_id);
  CREATE TABLE dash_hourly (
    metric TEXT NOT NULL,
    hour BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (metric, hour)
  );
  CREATE TABLE dash_expiry (
    hour BIGINT NOT NULL,
    profile TEXT NOT NULL,
    issuer_id TEXT NOT NULL,
    live BIGINT NOT NULL,
    renewed BIGINT NOT NULL,
    PRIMARY KEY (hour, profile, issuer_id)
  );
  CREATE TABLE dash_ocsp (
    issuer_id TEXT NOT NULL,
    expiry_hour BIGINT NOT NULL,
    next_hour BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (issuer_id, expiry_hour, next_hour)
  );

  CREATE INDEX dash_certificates_by_expiry ON certificates(not_after, id);
  CREATE INDEX dash_certificates_by_profile ON certificates(profile, not_after, id);
  CREATE INDEX dash_certificates_by_issuer ON certificates(issuer_id, not_after, id);
  CREATE INDEX dash_certificates_by_account ON certificates(account_id, not_after, id);
  CREATE INDEX dash_certificates_revoked ON certificates(not_after, id) WHERE revoked_at IS NOT NULL;
  CREATE INDEX dash_accounts_by_creation ON accounts(created_at, id);
  CREATE INDEX dash_audit_by_subject ON audit_log(subject, seq);
  CREATE INDEX dash_audit_by_actor ON audit_log(actor, seq);
  CREATE INDEX dash_audit_by_action ON audit_log(action, seq);

  CREATE FUNCTION dash_certificate_issued() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO dash_hourly (metric, hour, n) VALUES ('issued', NEW.issued_at / ${H}, 1)
      ON CONFLICT (metric, hour) DO UPDATE SET n = dash_hourly.n + 1;
    IF NEW.revoked_at IS NULL THEN
      INSERT INTO dash_expiry (hour, profile, issuer_id, live, renewed) VALUES (NEW.not_after / ${H}, NEW.profile, NEW.issuer_id, 1, 0)
        ON CONFLICT (hour, profile, issuer_id) DO UPDATE SET live = dash_expiry.live + 1;
    END IF;
    INSERT INTO dash_successors (certificate_id, successor_id)
      SELECT DISTINCT n.certificate_id, NEW.id FROM ${ident('NEW')} j
      JOIN dash_cert_names n ON n.name = j ->> 'value'
      WHERE n.superseded = 0 AND n.certificate_id != NEW.id
      ON CONFLICT DO NOTHING;
    INSERT INTO dash_expiry (hour, profile, issuer_id, live, renewed)
      SELECT p.not_after / ${H}, p.profile, p.issuer_id, 0, COUNT(*) FROM dash_successors s JOIN certificates p ON p.id = s.certificate_id
      WHERE s.successor_id = NEW.id AND p.revoked_at IS NULL GROUP BY 1, 2, 3
      ON CONFLICT (hour, profile, issuer_id) DO UPDATE SET renewed = dash_expiry.renewed + excluded.renewed;
    UPDATE dash_cert_names SET superseded = 1
      WHERE name IN (SELECT j ->> 'value' FROM ${ident('NEW')} j) AND superseded = 0 AND certificate_id != NEW.id;
    INSERT INTO dash_cert_names (name, not_after, certificate_id)
      SELECT DISTINCT j ->> 'value', NEW.not_after, NEW.id FROM ${ident('NEW')} j ON CONFLICT DO NOTHING;
    RETURN NULL;
  END $$;
  CREATE TRIGGER dash_certificate_issued AFTER INSERT ON certificates FOR EACH ROW EXECUTE FUNCTION dash_certificate_issued();

  CREATE FUNCTION dash_certificate_revoked() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    UPDATE dash_expiry SET live = live - 1,
        renewed = renewed - (CASE WHEN EXISTS (SELECT 1 FROM dash_successors WHERE certificate_id = NEW.id) THEN 1 ELSE 0 END)
      WHERE hour = NEW.not_after / ${H} AND profile = NEW.profile AND issuer_id = NEW.issuer_id;
    INSERT INTO dash_hourly (metric, hour, n) VALUES ('revoked', NEW.revoked_at / ${H}, 1)
      ON CONFLICT (metric, hour) DO UPDATE SET n = dash_hourly.n + 1;
    RETURN NULL;
  END $$;
  CREATE TRIGGER dash_certificate_revoked AFTER UPDATE OF revoked_at ON certificates
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL) EXECUTE FUNCTION dash_certificate_revoked();

  CREATE FUNCTION dash_certificate_purged() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    DELETE FROM dash_cert_names WHERE certificate_id = OLD.id AND not_after = OLD.not_after
      AND name IN (SELECT j ->> 'value' FROM ${ident('OLD')} j);
    IF OLD.revoked_at IS NULL THEN
      UPDATE dash_expiry SET live = live - 1,
          renewed = renewed - (CASE WHEN EXISTS (SELECT 1 FROM dash_successors WHERE certificate_id = OLD.id) THEN 1 ELSE 0 END)
        WHERE hour = OLD.not_after / ${H} AND profile = OLD.profile AND issuer_id = OLD.issuer_id;
    END IF;
    DELETE FROM dash_successors WHERE certificate_id = OLD.id;
    RETURN NULL;
  END $$;
  CREATE TRIGGER dash_certificate_purged AFTER DELETE ON certificates FOR EACH ROW EXECUTE FUNCTION dash_certificate_purged();

  CREATE FUNCTION dash_validation_failed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO dash_hourly (metric, hour, n)
      VALUES ('failed', COALESCE(NEW.finished_at, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) / ${H}, 1)
      ON CONFLICT (metric, hour) DO UPDATE SET n = dash_hourly.n + 1;
    RETURN NULL;
  END $$;
  CREATE TRIGGER dash_validation_failed AFTER UPDATE OF status ON challenges
    FOR EACH ROW WHEN (NEW.status = 'invalid' AND OLD.status != 'invalid') EXECUTE FUNCTION dash_validation_failed();

  CREATE FUNCTION dash_ocsp_inserted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO dash_ocsp (issuer_id, expiry_hour, next_hour, n)
      SELECT c.issuer_id, c.not_after / ${H}, NEW.next_update / ${H}, 1 FROM certificates c WHERE c.id = NEW.certificate_id
      ON CONFLICT (issuer_id, expiry_hour, next_hour) DO UPDATE SET n = dash_ocsp.n + 1;
    RETURN NULL;
  END $$;
  CREATE TRIGGER dash_ocsp_inserted AFTER INSERT ON ocsp_responses FOR EACH ROW EXECUTE FUNCTION dash_ocsp_inserted();

  CREATE FUNCTION dash_ocsp_updated() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    UPDATE dash_ocsp SET n = n - 1 WHERE next_hour = OLD.next_update / ${H}
      AND (issuer_id, expiry_hour) IN (SELECT c.issuer_id, c.not_after / ${H} FROM certificates c WHERE c.id = OLD.certificate_id);
    INSERT INTO dash_ocsp (issuer_id, expiry_hour, next_hour, n)
      SELECT c.issuer_id, c.not_after / ${H}, NEW.next_update / ${H}, 1 FROM certificates c WHERE c.id = NEW.certificate_id
      ON CONFLICT (issuer_id, expiry_hour, next_hour) DO UPDATE SET n = dash_ocsp.n + 1;
    RETURN NULL;
  END $$;
  CREATE TRIGGER dash_ocsp_updated AFTER UPDATE OF next_update ON ocsp_responses FOR EACH ROW EXECUTE FUNCTION dash_ocsp_updated();

  -- Back-fill from the rows written before this migration (once; later rows go through the triggers).
  INSERT INTO dash_cert_names (name, not_after, certificate_id, superseded)
    SELECT DISTINCT j ->> 'value', c.not_after, c.id, 0 FROM certificates c, jsonb_array_elements(c.identifiers::jsonb) j ON CONFLICT DO NOTHING;
  INSERT INTO dash_successors (certificate_id, successor_id)
    SELECT id, next_id FROM (
      SELECT c.id, c.issued_at, LEAD(c.id) OVER (PARTITION BY n.name ORDER BY c.issued_at, c.id) AS next_id
      FROM dash_cert_names n JOIN certificates c ON c.id = n.certificate_id) x
    WHERE next_id IS NOT NULL ORDER BY issued_at ON CONFLICT DO NOTHING;
  UPDATE dash_cert_names d SET superseded = 1 WHERE EXISTS (
    SELECT 1 FROM dash_cert_names later JOIN certificates lc ON lc.id = later.certificate_id JOIN certificates me ON me.id = d.certificate_id
    WHERE later.name = d.name AND (lc.issued_at, lc.id) > (me.issued_at, me.id));
  INSERT INTO dash_hourly (metric, hour, n) SELECT 'issued', issued_at / ${H}, COUNT(*) FROM certificates GROUP BY 2;
  INSERT INTO dash_hourly (metric, hour, n) SELECT 'revoked', revoked_at / ${H}, COUNT(*) FROM certificates WHERE revoked_at IS NOT NULL GROUP BY 2;
  INSERT INTO dash_hourly (metric, hour, n)
    SELECT 'failed', finished_at / ${H}, COUNT(*) FROM challenges WHERE status = 'invalid' AND finished_at IS NOT NULL GROUP BY 2;
  INSERT INTO dash_expiry (hour, profile, issuer_id, live, renewed)
    SELECT c.not_after / ${H}, c.profile, c.issuer_id, COUNT(*), COUNT(s.certificate_id)
    FROM certificates c LEFT JOIN dash_successors s ON s.certificate_id = c.id WHERE c.revoked_at IS NULL GROUP BY 1, 2, 3;
  INSERT INTO dash_ocsp (issuer_id, expiry_hour, next_hour, n)
    SELECT c.issuer_id, c.not_after / ${H}, o.next_update / ${H}, COUNT(*)
    FROM ocsp_responses o JOIN certificates c ON c.id = o.certificate_id GROUP BY 1, 2, 3;
`;
