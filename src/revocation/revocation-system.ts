/**
 * Wires revocation information together: a delegated OCSP responder per issuer (renewed while
 * running), the OCSP service with its refresher, and the CRL publisher.
 */
import { encodeCrlEntry } from './crl-encoding.js';
import type { Logger } from 'pino';
import type { Links } from '../acme/links.js';
import type { Issuer } from '../ca/issuer.js';
import type { RevocationHooks } from '../domain/revocation.js';
import type { Store } from '../store/store.js';
import type { CertificateRecord, SignedOcspResponse } from '../store/types.js';
import { CrlService } from './crl-service.js';
import { ensureOcspResponder, type OcspResponder } from './ocsp-responder-cert.js';
import { OcspService } from './ocsp-service.js';

export interface RevocationSettings {
  dataDir: string;
  passphrase: string;
  ocspResponseLifetimeMs: number;
  ocspResponderValidityMs: number;
  crlShards: number;
  crlLifetimeMs: number;
  crlRevocationDelayMs: number;
  /** Whether this instance holds the lease of a periodic task (absent: it always does). */
  holdsLease?(task: 'crl' | 'ocsp-refresh'): boolean;
}

export interface RevocationSystem {
  ocsp: OcspService;
  crl: CrlService;
  hooks: RevocationHooks;
  /** Signs a new certificate's first OCSP answer, recorded with it (undefined: queued instead). */
  presignGood(cert: Pick<CertificateRecord, 'issuerId' | 'serial' | 'notAfter'>): Promise<SignedOcspResponse | undefined>;
  /** Makes sure every current issuer has a responder (after an issuer rotation). */
  refreshResponders(): Promise<void>;
  issuer(id: string): Issuer | undefined;
  stop(): Promise<void>;
}

const RESPONDER_CHECK_MS = 3_600_000;

export async function startRevocation(
  settings: RevocationSettings,
  issuers: () => Issuer[],
  store: Store,
  links: Links,
  log: Logger,
): Promise<RevocationSystem> {
  const responders = new Map<string, OcspResponder>();
  const refreshResponders = async () => {
    for (const issuer of issuers()) {
      responders.set(issuer.id, await ensureOcspResponder(settings.dataDir, issuer, settings.passphrase, settings.ocspResponderValidityMs));
    }
  };
  await refreshResponders();
  const responderTimer = setInterval(() => {
    refreshResponders().catch((e) => log.error({ err: (e as Error).message }, 'OCSP responder renewal failed'));
  }, RESPONDER_CHECK_MS);
  responderTimer.unref();

  const ocsp = new OcspService({
    store,
    responderFor: (id) => responders.get(id),
    responders: () => [...responders.values()],
    responseLifetimeMs: settings.ocspResponseLifetimeMs,
    log,
    mayRefresh: () => settings.holdsLease?.('ocsp-refresh') ?? true,
  });
  const crl = new CrlService({
    store,
    issuers,
    shards: settings.crlShards,
    lifetimeMs: settings.crlLifetimeMs,
    revocationDelayMs: settings.crlRevocationDelayMs,
    shardUrl: links.crlShard,
    log,
    mayRun: () => settings.holdsLease?.('crl') ?? true,
  });
  ocsp.startRefresher();
  crl.start();

  return {
    ocsp,
    crl,
    hooks: {
      signRevokedOcsp: (cert, at, reason) => ocsp.signRevoked(cert, at, reason),
      crlEntry: encodeCrlEntry,
      revoked: () => crl.kick(),
    },
    presignGood: (cert) =>
      ocsp.presign(cert).catch((e: unknown) => {
        log.warn({ serial: cert.serial, err: (e as Error).message }, 'OCSP pre-signing failed; the refresher signs it');
        return undefined;
      }),
    issuer: (id) => issuers().find((i) => i.id === id),
    refreshResponders,
    stop: async () => {
      clearInterval(responderTimer);
      ocsp.stop();
      await crl.stop();
    },
  };
}
