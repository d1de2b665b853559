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
import { RevocationService } from '../domain/revocation.js';
import { ensureOcspResponder, type OcspResponder } from '../revocation/ocsp-responder-cert.js';
import { OcspService } from '../revocation/ocsp-service.js';
import { createLogger } from '../ops/logger.js';
import { operatorActor, parseCommand } from './settings-args.js';

/** Reason names an operator may type (RFC 5280 §5.3.1), with their codes. */
export const OPERATOR_REASONS: Record<string, number> = {
  unspecified: 0,
  keyCompromise: 1,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  privilegeWithdrawn: 9,
};

const USAGE = `Usage: anvil revoke --serial <hex> --reason <name|code> [--invalidity-date <RFC 3339>] [--data-dir <dir>] [serve settings]
Reasons: ${Object.entries(OPERATOR_REASONS).map(([n, c]) => `${n} (${c})`).join(', ')}`;

export async function revokeCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCommand(args, { serial: { type: 'string' }, reason: { type: 'string' }, 'invalidity-date': { type: 'string' } });
  } catch (e) {
    process.stderr.write(`anvil revoke: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const serial = typeof values.serial === 'string' ? canonicalSerial(values.serial) : '';
  if (!/^[0-9a-f]+$/.test(serial)) {
    process.stderr.write(`anvil revoke: --serial must be the certificate serial in hex\n${USAGE}\n`);
    return 2;
  }
  const reasonText = typeof values.reason === 'string' ? values.reason : 'unspecified';
  const reason = /^\d+$/.test(reasonText) ? Number(reasonText) : OPERATOR_REASONS[reasonText];
  if (reason === undefined || !Object.values(OPERATOR_REASONS).includes(reason)) {
    process.stderr.write(`anvil revoke: unknown or refused reason ${JSON.stringify(reasonText)}\n${USAGE}\n`);
    return 2;
  }
  let invalidity: Date | null = null;
  if (typeof values['invalidity-date'] === 'string') {
    invalidity = new Date(values['invalidity-date']);
    if (Number.isNaN(invalidity.getTime())) {
      process.stderr.write('anvil revoke: --invalidity-date must be an RFC 3339 date-time\n');
      return 2;
    }
  }
  const config = parsed.config();
  const { ca, passphrase, keys } = await openConfiguredCa(config, process.env);
  const store = openDataStore(config).store;
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
