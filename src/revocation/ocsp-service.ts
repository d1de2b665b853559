/**
 * The OCSP responder (RFC 6960 with the RFC 5019 profile). Responses are pre-signed: each
 * certificate's answer is signed ahead of time, stored beside it, refreshed when half its
 * validity has passed and re-signed in the revocation's own transaction. The hot path — one
 * SHA-1 CertID, no nonce — reads the stored answer and signs nothing. Nonces (RFC 8954),
 * SHA-256 CertIDs and multi-certificate requests are signed on demand. A pre-signed answer is
 * also kept in memory by its request's bytes, so a repeated request skips parsing; it is served
 * only after a point lookup confirms the certificate's revocation state is still the one it
 * states, so a revocation by any process or instance shows at once.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { CertID } from '@peculiar/asn1-ocsp';
import type { Extension } from '@peculiar/asn1-x509';
import type { Store } from '../store/store.js';
import type { CertificateRecord, CertificateStatus, SignedOcspResponse } from '../store/types.js';
import {
  HASH_OIDS,
  OCSPResponseStatus,
  OcspFailure,
  ocspErrorResponse,
  parseOcspRequest,
  serialOfCertId,
  sha1CertIdDer,
  signOcspResponse,
  wholeSeconds,
  type CertState,
  type SingleAnswer,
} from './ocsp-messages.js';
import type { OcspResponder } from './ocsp-responder-cert.js';
import { TimeSlice } from '../ops/time-slice.js';

export interface OcspAnswer {
  der: Uint8Array;
  /** For metrics: `presigned`, `signed`, or the OCSP error status name. */
  outcome: string;
  /** Set for answers that may be cached by HTTP intermediaries (no nonce). */
  cache?: { thisUpdate: Date; nextUpdate: Date; etag?: string };
}

export interface OcspServiceOptions {
  store: Store;
  /** The current responder of each issuer (it may be renewed while running). */
  responderFor(issuerId: string): OcspResponder | undefined;
  responders(): OcspResponder[];
  responseLifetimeMs: number;
  log: Logger;
  /** False while another instance holds the refresh lease. */
  mayRefresh?(): boolean;
}

/** Unknown serials are answered with a short validity, so a later issuance is seen soon. */
const UNKNOWN_LIFETIME_MS = 60_000;
const REFRESH_BATCH = 500;
/** A remembered answer is served for at most this long, and never past half its validity. */
const RECENT_TTL_MS = 60_000;
const RECENT_MAX = 100_000;

export class OcspService {
  private refreshTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly recent = new Map<string, { answer: OcspAnswer; until: number; issuerId: string; serial: string; revoked: boolean }>();

  constructor(private readonly o: OcspServiceOptions) {}

  async answer(requestDer: Uint8Array): Promise<OcspAnswer> {
    const key = Buffer.from(requestDer.buffer, requestDer.byteOffset, requestDer.byteLength).toString('latin1');
    const hit = this.recent.get(key);
    if (hit && hit.until > Date.now() && (await this.o.store.isRevoked(hit.issuerId, hit.serial)) === hit.revoked) return hit.answer;
    const { answer, presignedFor } = await this.answerFresh(requestDer);
    if (presignedFor && answer.cache) {
      if (this.recent.size >= RECENT_MAX) this.recent.clear();
      const cached = { ...answer, cache: { ...answer.cache, etag: `"${createHash('sha256').update(answer.der).digest('hex')}"` } };
      const halfLife = answer.cache.thisUpdate.getTime() + (answer.cache.nextUpdate.getTime() - answer.cache.thisUpdate.getTime()) / 2;
      this.recent.set(key, { answer: cached, until: Math.min(Date.now() + RECENT_TTL_MS, halfLife), ...presignedFor });
      return cached;
    }
    return answer;
  }

  /** Parses, looks up and answers; `presignedFor` names the one certificate of a pre-signed answer. */
  private async answerFresh(requestDer: Uint8Array): Promise<{ answer: OcspAnswer; presignedFor?: { issuerId: string; serial: string; revoked: boolean } }> {
    let parsed;
    try {
      parsed = parseOcspRequest(requestDer);
    } catch (e) {
      if (e instanceof OcspFailure) return { answer: { der: ocspErrorResponse(e.status), outcome: OCSPResponseStatus[e.status] ?? 'error' } };
      throw e;
    }
    const targets: { certId: CertID; responder: OcspResponder }[] = [];
    for (const certId of parsed.certIds) {
      const responder = this.matchIssuer(certId);
      if (!responder) return { answer: { der: ocspErrorResponse(OCSPResponseStatus.unauthorized), outcome: 'unauthorized' } };
      targets.push({ certId, responder });
    }
    const responder = targets[0]!.responder;
    if (targets.some((t) => t.responder !== responder)) {
      // One response has one signer; CertIDs of different issuers cannot share it.
      return { answer: { der: ocspErrorResponse(OCSPResponseStatus.malformedRequest), outcome: 'malformedRequest' } };
    }
    const statuses = await Promise.all(targets.map((t) => this.o.store.getCertificateStatus(responder.issuer.id, serialOfCertId(t.certId))));

    const single = targets.length === 1 && !parsed.nonce && targets[0]!.certId.hashAlgorithm.algorithm === HASH_OIDS.sha1;
    const status = statuses[0];
    if (single && status) {
      const stored = await this.presigned(status, responder);
      return {
        answer: { der: stored.der, cache: stored, outcome: 'presigned' },
        presignedFor: { issuerId: responder.issuer.id, serial: status.serial, revoked: status.revokedAt !== null },
      };
    }

    const now = new Date();
    const lifetime = statuses.every((s) => s) ? this.o.responseLifetimeMs : UNKNOWN_LIFETIME_MS;
    const answers: SingleAnswer[] = targets.map((t, i) => ({ certId: t.certId, state: stateOf(statuses[i] ?? null) }));
    const validity = responseValidity(now, lifetime, statuses.flatMap((s) => (s ? [s.notAfter] : [])));
    const der = await signOcspResponse(responder, answers, now, validity.nextUpdate, parsed.nonce as Extension | undefined);
    return parsed.nonce
      ? { answer: { der, outcome: 'signed' } }
      : { answer: { der, outcome: 'signed', cache: { thisUpdate: wholeSeconds(now), nextUpdate: validity.freshUntil } } };
  }

  /** The stored response if it is current for the certificate's state, else a fresh one (stored). */
  private async presigned(status: CertificateStatus, responder: OcspResponder): Promise<SignedOcspResponse> {
    const stored = status.ocsp;
    const revoked = status.revokedAt !== null;
    if (stored && stored.revoked === revoked && stored.nextUpdate.getTime() > Date.now()) return stored;
    const fresh = await this.sign(responder, status.serial, stateOf(status), status.notAfter);
    // Answers for expired certificates are not kept (retention drops them): sign, don't store.
    if (status.notAfter.getTime() > Date.now()) await this.o.store.saveOcspResponse(status.id, fresh, revoked);
    return fresh;
  }

  /**
   * Signs the SHA-1 CertID response for one certificate of this responder's issuer. Its nextUpdate
   * is never past the certificate's notAfter (stapling web servers refuse such answers); the
   * stored `nextUpdate` is when the answer stops being fresh (for caching and re-signing). It is
   * due for refresh at half its validity, unless it already lasts as long as the certificate.
   */
  async sign(responder: OcspResponder, serial: string, state: CertState, certNotAfter?: Date): Promise<SignedOcspResponse> {
    const now = new Date();
    const validity = responseValidity(now, this.o.responseLifetimeMs, certNotAfter ? [certNotAfter] : []);
    const der = await signOcspResponse(responder, [{ certId: sha1CertIdDer(responder, serial), state }], now, validity.nextUpdate);
    const lastsForLife = certNotAfter !== undefined && (validity.nextUpdate === null || validity.nextUpdate.getTime() >= wholeSeconds(certNotAfter).getTime());
    const refreshAt = lastsForLife ? null : new Date(now.getTime() + this.o.responseLifetimeMs / 2);
    return { der, thisUpdate: wholeSeconds(now), nextUpdate: validity.freshUntil, refreshAt };
  }

  /** Signs a new certificate's `good` response, stored with the certificate when it is recorded. */
  async presign(cert: Pick<CertificateRecord, 'issuerId' | 'serial' | 'notAfter'>): Promise<SignedOcspResponse | undefined> {
    const responder = this.o.responderFor(cert.issuerId);
    return responder ? this.sign(responder, cert.serial, { status: 'good' }, cert.notAfter) : undefined;
  }

  /** Signs the revoked-state response a revocation stores in its own transaction. */
  async signRevoked(cert: CertificateRecord, revokedAt: Date, reason: number): Promise<SignedOcspResponse | null> {
    const responder = this.o.responderFor(cert.issuerId);
    return responder ? this.sign(responder, cert.serial, { status: 'revoked', revokedAt, reason }, cert.notAfter) : null;
  }

  /** Refreshes responses older than half their lifetime, in bounded batches, until stopped. */
  startRefresher(intervalMs = 30_000): void {
    const run = async () => {
      try {
        if (this.o.mayRefresh?.() !== false) await this.refreshDue();
      } catch (e) {
        this.o.log.error({ err: (e as Error).message }, 'OCSP refresh failed');
      }
      if (this.stopped) return;
      this.refreshTimer = setTimeout(run, intervalMs);
      this.refreshTimer.unref();
    };
    this.refreshTimer = setTimeout(run, 0);
    this.refreshTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
  }

  /** Signs every due answer, batch by batch, giving the event loop back between signatures. */
  async refreshDue(): Promise<number> {
    const slice = new TimeSlice();
    let total = 0;
    for (;;) {
      const done = await this.refreshBatch(slice);
      total += done;
      if (done < REFRESH_BATCH || this.stopped || this.o.mayRefresh?.() === false) return total;
    }
  }

  private async refreshBatch(slice: TimeSlice): Promise<number> {
    const now = Date.now();
    const due = await this.o.store.listOcspDue(new Date(now), REFRESH_BATCH);
    for (const cert of due) {
      await slice.maybeYield();
      const responder = this.o.responderFor(cert.issuerId);
      // An expired certificate needs no new answer; one whose issuer has no responder (yet) is
      // answered on demand and stays due.
      if (cert.notAfter.getTime() <= now) {
        await this.o.store.dropOcspWork(cert.id);
        continue;
      }
      if (!responder) continue;
      const revoked = cert.revokedAt !== null;
      const state: CertState = revoked ? { status: 'revoked', revokedAt: cert.revokedAt!, reason: cert.revocationReason } : { status: 'good' };
      await this.o.store.saveOcspResponse(cert.id, await this.sign(responder, cert.serial, state, cert.notAfter), revoked);
    }
    return due.length;
  }

  private matchIssuer(certId: CertID): OcspResponder | undefined {
    const alg = certId.hashAlgorithm.algorithm === HASH_OIDS.sha1 ? 'sha1' : 'sha256';
    const name = Buffer.from(certId.issuerNameHash.buffer);
    const key = Buffer.from(certId.issuerKeyHash.buffer);
    return this.o.responders().find((r) => r.issuerHashes[alg].nameHash.equals(name) && r.issuerHashes[alg].keyHash.equals(key));
  }
}

/**
 * nextUpdate = min(now + lifetime, earliest notAfter), in whole seconds. A certificate that has
 * expired (or expires within the second) gets no nextUpdate, and its answer is fresh for a minute.
 */
export function responseValidity(now: Date, lifetimeMs: number, notAfters: Date[]): { nextUpdate: Date | null; freshUntil: Date } {
  const thisUpdate = wholeSeconds(now);
  const end = wholeSeconds(new Date(Math.min(now.getTime() + lifetimeMs, ...notAfters.map((d) => d.getTime()))));
  if (end.getTime() <= thisUpdate.getTime()) return { nextUpdate: null, freshUntil: new Date(thisUpdate.getTime() + UNKNOWN_LIFETIME_MS) };
  return { nextUpdate: end, freshUntil: end };
}

function stateOf(status: CertificateStatus | null): CertState {
  if (!status) return { status: 'unknown' };
  if (status.revokedAt) return { status: 'revoked', revokedAt: status.revokedAt, reason: status.revocationReason };
  return { status: 'good' };
}
