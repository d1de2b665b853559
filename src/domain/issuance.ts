/**
 * Finalization (RFC 8555 §7.4): check the CSR against the order and its profile, reserve a serial
 * and move the order to `processing`, sign, then record the certificate and move the order to
 * `valid` in one transaction. A certificate is in the store before any client can see its URL.
 * If signing fails the order returns to `ready` (nothing lost) and the client is told to retry.
 */
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import { accountKeyObject } from '../acme/jws.js';
import { AcmeProblem, problems, type Identifier } from '../acme/problem.js';
import { sha256Hex } from '../ca/algorithms.js';
import { metrics } from '../ops/metrics.js';
import { randomSerial, serialHex } from '../ca/certificate-builder.js';
import { parseCsr, type ParsedCsr } from '../ca/csr.js';
import type { Issuer } from '../ca/issuer.js';
import { buildLeaf } from '../ca/leaf.js';
import type { Profile } from '../profiles/profile.js';
import type { Store } from '../store/store.js';
import type { AccountRecord, CertificateRecord, OrderRecord, SignedOcspResponse } from '../store/types.js';
import { canonicalIp } from './identifiers.js';
import { orderStatus } from './status.js';

export interface IssuanceDependencies {
  store: Store;
  profile(name: string): Profile | undefined;
  issuerFor(profile: Profile): Issuer;
  /** The OCSP and CRL URLs a certificate of this issuer and CRL shard carries. */
  revocationUrls(issuerId: string, shard: number): { ocsp: string; crl: string };
  crlShards: number;
  /** The new certificate's first OCSP answer, recorded in the same transaction as the certificate. */
  presignOcsp?(certificate: Pick<CertificateRecord, 'issuerId' | 'serial' | 'notAfter'>): Promise<SignedOcspResponse | undefined>;
  log: Logger;
}

/** Seconds a client should wait before retrying a finalize that failed for a transient reason. */
const RETRY_AFTER_SECONDS = 5;

export class IssuanceService {
  constructor(private readonly deps: IssuanceDependencies) {}

  async finalize(account: AccountRecord, order: OrderRecord, csrDer: Uint8Array): Promise<OrderRecord> {
    const status = orderStatus(order, Date.now());
    if (status !== 'ready') throw problems.orderNotReady(`order is ${status}, not ready`);
    const profile = this.deps.profile(order.profile);
    if (!profile) throw problems.serverInternal(`profile ${order.profile} of this order is no longer configured`);
    const started = process.hrtime.bigint();
    const csr = parseCsr(csrDer);
    checkCsr(csr, order.identifiers, profile, account);
    if (await this.deps.store.isKeyBlocked(sha256Hex(csr.spkiDer))) {
      throw problems.badPublicKey('this public key was reported compromised (revoked with reason keyCompromise); use a new key');
    }
    await this.issue(order, csrDer, csr, profile);
    metrics.issuanceSeconds.observe({ profile: profile.name }, Number(process.hrtime.bigint() - started) / 1e9);
    return (await this.deps.store.getOrder(order.id))!;
  }

  /** Orders left `processing` by a crash are issued again from their stored CSR. */
  /**
   * Re-issues orders whose finalization was interrupted: every `processing` order whose claim has
   * lapsed (with `soleProcess`, every one), each claimed by this process first.
   */
  async recover(soleProcess = false): Promise<number> {
    const stuck = await this.deps.store.claimStaleOrders(soleProcess ? new Date(8.64e15) : new Date(), 15_000, 200);
    for (const { id, csr } of stuck) {
      await this.deps.store.abortFinalize(id, { status: 'pending' });
      const order = await this.deps.store.getOrder(id);
      const profile = order && this.deps.profile(order.profile);
      if (!order || !profile || orderStatus(order, Date.now()) !== 'ready') continue;
      try {
        await this.issue(order, csr, parseCsr(csr), profile);
        this.deps.log.info({ orderId: id }, 'recovered an order interrupted during issuance');
      } catch (e) {
        this.deps.log.warn({ orderId: id, err: e instanceof AcmeProblem ? e.message : String(e) }, 'interrupted order left ready for the client to finalize again');
      }
    }
    return stuck.length;
  }

  private async issue(order: OrderRecord, csrDer: Uint8Array, csr: ParsedCsr, profile: Profile): Promise<void> {
    const { store } = this.deps;
    const issuer = this.deps.issuerFor(profile);
    const serial = randomSerial();
    const serialText = serialHex(serial);
    if (!(await store.beginFinalize(order.id, csrDer, serialText, issuer.id))) {
      throw problems.orderNotReady('order is already being finalized');
    }
    const now = Date.now();
    const notBefore = order.notBefore ?? new Date(now - profile.backdateMs);
    let notAfter = order.notAfter ?? new Date(notBefore.getTime() + profile.validityMs);
    if (notAfter > issuer.notAfter) notAfter = issuer.notAfter;
    const crlShard = randomInt(this.deps.crlShards);
    const urls = this.deps.revocationUrls(issuer.id, crlShard);
    let der: Uint8Array;
    try {
      der = await buildLeaf({
        serial,
        identifiers: order.identifiers,
        spkiDer: csr.spkiDer,
        subjectPublicKey: csr.subjectPublicKey,
        keyType: csr.keyType!,
        notBefore,
        notAfter,
        profile,
        issuer,
        ocspUrl: urls.ocsp,
        crlUrl: urls.crl,
      });
    } catch (e) {
      await store.abortFinalize(order.id, { status: 'pending' });
      this.deps.log.error({ orderId: order.id, issuer: issuer.id, err: (e as Error).message }, 'signing failed; order returned to ready');
      throw problems.serverInternal('the CA could not sign right now; finalize again later', {
        headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) },
      });
    }
    const ocsp = await this.deps.presignOcsp?.({ issuerId: issuer.id, serial: serialText, notAfter });
    await store.completeFinalize(order.id, {
      serial: serialText,
      issuerId: issuer.id,
      accountId: order.accountId,
      orderId: order.id,
      profile: profile.name,
      profileHash: profile.hash,
      identifiers: order.identifiers,
      notBefore,
      notAfter,
      ...renewalWindowOf(profile, notBefore, notAfter),
      der,
      chainPem: issuer.chainPem,
      spkiSha256: sha256Hex(csr.spkiDer),
      crlShard,
      ...(ocsp ? { ocsp } : {}),
    });
    metrics.ordersFinal.inc({ status: 'valid' });
    metrics.certificatesIssued.inc({ profile: profile.name, issuer: issuer.id });
    this.deps.log.info({ orderId: order.id, serial: serialText, issuer: issuer.id, profile: profile.name }, 'certificate issued');
  }
}

/** The ARI window (RFC 9773) a profile asks for, fixed at issuance so later profile edits leave it alone. */
function renewalWindowOf(profile: Profile, notBefore: Date, notAfter: Date): { renewalStart: Date; renewalEnd: Date } {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  return {
    renewalStart: new Date(notBefore.getTime() + Math.round(lifetime * profile.renewalWindow.start)),
    renewalEnd: new Date(notBefore.getTime() + Math.round(lifetime * profile.renewalWindow.end)),
  };
}

/** The CSR must request exactly the order's identifiers with a key the profile allows (§7.4). */
export function checkCsr(csr: ParsedCsr, identifiers: Identifier[], profile: Profile, account: AccountRecord): void {
  if (!csr.keyType) throw problems.badPublicKey('CSR public key type is not supported');
  if (!profile.keyTypes.includes(csr.keyType)) {
    throw problems.badPublicKey(`key type ${csr.keyType} is not allowed by profile ${profile.name} (allowed: ${profile.keyTypes.join(', ')})`);
  }
  if (sha256Hex(csr.spkiDer) === accountKeyHash(account)) {
    throw problems.badPublicKey('the certificate key must not be the account key');
  }
  if (csr.commonNames.length > 1) throw problems.badCSR('CSR subject has more than one common name');

  const requested = new Set<string>();
  for (const name of csr.dnsNames) requested.add(`dns:${name.toLowerCase()}`);
  for (const ip of csr.ipAddresses) requested.add(`ip:${canonicalIp(ip) ?? ip}`);
  for (const cn of csr.commonNames) {
    const ip = canonicalIp(cn);
    requested.add(ip ? `ip:${ip}` : `dns:${cn.toLowerCase()}`);
  }
  const expected = new Set(identifiers.map((i) => `${i.type}:${i.value}`));
  const missing = [...expected].filter((k) => !requested.has(k));
  const extra = [...requested].filter((k) => !expected.has(k));
  if (missing.length > 0 || extra.length > 0) {
    const parts = [];
    if (missing.length > 0) parts.push(`missing ${missing.join(', ')}`);
    if (extra.length > 0) parts.push(`not in the order: ${extra.join(', ')}`);
    throw problems.badCSR(`CSR names must be exactly the order's identifiers (${parts.join('; ')})`);
  }
}

/** SHA-256 of the account key's SPKI, to refuse CSRs that reuse it. */
function accountKeyHash(account: AccountRecord): string {
  return sha256Hex(new Uint8Array(accountKeyObject(account).export({ type: 'spki', format: 'der' })));
}
