/**
 * `anvil revoke`: the operator's revocation by serial. It writes the same records as ACME
 * revokeCert (revoked OCSP answer, key block for keyCompromise, CRL shards to re-publish) in one
 * transaction; a running server publishes the CRLs within its crlRevocationDelay.
 */
import { encodeCrlEntry } from '../revocation/crl-encoding.js';
import { canonicalSerial } from '../ca/certificate-builder.js';
import { openDataStore } from './open-store.js';
import { AcmeProblem } from '../acme/problem.js';
import { openConfiguredCa } from '../ca/open-ca.js';
import { parseSubscriberReason, RevocationService, subscriberReasonList } from '../domain/revocation.js';
import { ensureOcspResponder, type OcspResponder } from '../revocation/ocsp-responder-cert.js';
import { OcspService } from '../revocation/ocsp-service.js';
import { createLogger } from '../ops/logger.js';
import { operatorActor, parseCommand } from './settings-args.js';
import { UsageError } from './usage-error.js';

export const REVOKE_USAGE = `Usage: anvil revoke --serial <hex> --reason <name|code> [--invalidity-date <RFC 3339>] [--data-dir <dir>] [serve settings]
Reasons: ${subscriberReasonList()}`;

export async function revokeCommand(args: string[]): Promise<number> {
  const parsed = parseCommand(args, { serial: { type: 'string' }, reason: { type: 'string' }, 'invalidity-date': { type: 'string' } });
  const { values } = parsed;
  const serial = typeof values.serial === 'string' ? canonicalSerial(values.serial) : '';
  if (!/^[0-9a-f]+$/.test(serial)) throw new UsageError('--serial must be the certificate serial in hex');
  const reasonText = typeof values.reason === 'string' ? values.reason : 'unspecified';
  const reason = parseSubscriberReason(reasonText);
  if (reason === undefined) throw new UsageError(`unknown or refused reason ${JSON.stringify(reasonText)}; reasons: ${subscriberReasonList()}`);
  let invalidity: Date | null = null;
  if (typeof values['invalidity-date'] === 'string') {
    invalidity = new Date(values['invalidity-date']);
    if (Number.isNaN(invalidity.getTime())) throw new UsageError('--invalidity-date must be an RFC 3339 date-time');
  }
  const config = parsed.config();
  const { ca, passphrase, keys } = await openConfiguredCa(config, process.env);
  const store = (await openDataStore(config)).store;
  try {
    const record = await store.findCertificateBySerial(serial);
    if (!record) {
      process.stderr.write(`anvil revoke: no certificate with serial ${serial}\n`);
      return 1;
    }
    const responders = new Map<string, OcspResponder>();
    for (const issuer of ca.issuers) {
      responders.set(issuer.id, await ensureOcspResponder(config.dataDir, issuer, passphrase, config.ocspResponderValidityMs));
    }
    const ocsp = new OcspService({
      store,
      responderFor: (id) => responders.get(id),
      responders: () => [...responders.values()],
      responseLifetimeMs: config.ocspResponseLifetimeMs,
      log: createLogger('silent'),
    });
    const service = new RevocationService(store, {
      signRevokedOcsp: (c, at, code) => ocsp.signRevoked(c, at, code),
      crlEntry: encodeCrlEntry,
      revoked: () => undefined,
    });
    const revoked = await service.apply(record, reason, invalidity, operatorActor());
    process.stdout.write(`revoked ${revoked.serial} (issuer ${revoked.issuerId}, reason ${reason}) at ${revoked.revokedAt!.toISOString()}\n`);
    return 0;
  } catch (e) {
    if (e instanceof AcmeProblem) {
      process.stderr.write(`anvil revoke: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    await store.close();
    keys.close();
  }
}
