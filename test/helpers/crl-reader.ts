/**
 * Reads a DER CRL (RFC 5280 §5) with the @peculiar/asn1-x509 schemas into what tests assert on:
 * version, dates, CRL number, AKI, Issuing Distribution Point, and each entry's reason, and checks
 * its signature with the issuer's key.
 */
import { verify as verifySignature, X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  CertificateList,
  CRLNumber,
  CRLReason,
  InvalidityDate,
  IssuingDistributionPoint,
  id_ce_authorityKeyIdentifier,
  id_ce_cRLNumber,
  id_ce_cRLReasons,
  id_ce_invalidityDate,
  id_ce_issuingDistributionPoint,
} from '@peculiar/asn1-x509';
import { SIG_HASH } from './ocsp-wire.js';
import { binaryRequest, mediaTypeOf, sleep, type BinaryResponse } from './revocation-http.js';

export interface CrlEntry {
  revocationDate: Date;
  /** Absent when the entry has no reasonCode (unspecified, RFC 5280 §5.3.1). */
  reason?: number;
  invalidityDate?: Date;
}

export interface ParsedCrl {
  /** 1 for v2 (the INTEGER value), undefined when absent (v1). */
  version: number | undefined;
  thisUpdate: Date;
  nextUpdate?: Date;
  number: bigint | undefined;
  /** keyIdentifier of the AKI extension, lowercase hex. */
  akiKeyId: string | undefined;
  idp?: { critical: boolean; urls: string[]; onlyContainsUserCerts: boolean };
  /** serial (lowercase hex of the INTEGER content) → entry. */
  entries: Map<string, CrlEntry>;
  issuerDer: Uint8Array;
  signatureAlgorithm: string;
  /** Verifies the CRL signature with a PEM issuer certificate. */
  verifiedBy(issuerPem: string): boolean;
}

export function parseCrl(der: Uint8Array): ParsedCrl {
  const buffer = der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
  const crl = AsnConvert.parse(buffer, CertificateList);
  const tbs = crl.tbsCertList;
  const out: ParsedCrl = {
    version: tbs.version,
    thisUpdate: tbs.thisUpdate.getTime(),
    number: undefined,
    akiKeyId: undefined,
    entries: new Map(),
    issuerDer: new Uint8Array(AsnConvert.serialize(tbs.issuer)),
    signatureAlgorithm: crl.signatureAlgorithm.algorithm,
    verifiedBy: (issuerPem) => {
      const tbsDer = crl.tbsCertListRaw ? new Uint8Array(crl.tbsCertListRaw) : new Uint8Array(AsnConvert.serialize(tbs));
      const hash = SIG_HASH[crl.signatureAlgorithm.algorithm] ?? null;
      return verifySignature(hash, tbsDer, new X509Certificate(issuerPem).publicKey, Buffer.from(crl.signature));
    },
  };
  if (tbs.nextUpdate) out.nextUpdate = tbs.nextUpdate.getTime();
  for (const ext of tbs.crlExtensions ?? []) {
    const value = ext.extnValue.buffer;
    if (ext.extnID === id_ce_cRLNumber) out.number = BigInt(AsnConvert.parse(value, CRLNumber).value);
    if (ext.extnID === id_ce_authorityKeyIdentifier) {
      const aki = AsnConvert.parse(value, AuthorityKeyIdentifier);
      if (aki.keyIdentifier) out.akiKeyId = Buffer.from(aki.keyIdentifier.buffer).toString('hex');
    }
    if (ext.extnID === id_ce_issuingDistributionPoint) {
      const idp = AsnConvert.parse(value, IssuingDistributionPoint);
      out.idp = {
        critical: ext.critical,
        urls: (idp.distributionPoint?.fullName ?? []).map((g) => g.uniformResourceIdentifier ?? '').filter((u) => u),
        onlyContainsUserCerts: idp.onlyContainsUserCerts === true,
      };
    }
  }
  for (const entry of tbs.revokedCertificates ?? []) {
    const e: CrlEntry = { revocationDate: entry.revocationDate.getTime() };
    for (const ext of entry.crlEntryExtensions ?? []) {
      if (ext.extnID === id_ce_cRLReasons) e.reason = AsnConvert.parse(ext.extnValue.buffer, CRLReason).reason;
      if (ext.extnID === id_ce_invalidityDate) e.invalidityDate = AsnConvert.parse(ext.extnValue.buffer, InvalidityDate).value;
    }
    out.entries.set(Buffer.from(entry.userCertificate).toString('hex'), e);
  }
  return out;
}

/** A certificate's serial as CRL entries and OCSP CertIDs carry it: lowercase hex of the INTEGER content. */
export function serialHexOf(pem: string): string {
  // X509Certificate.serialNumber is the hex value without the leading 00 of positive high-bit serials.
  const hex = new X509Certificate(pem).serialNumber.toLowerCase();
  const padded = hex.length % 2 === 1 ? `0${hex}` : hex;
  return /^[89a-f]/.test(padded) ? `00${padded}` : padded;
}

/** GETs a CRL; throws unless it is 200 application/pkix-crl. Returns the DER and its parse. */
export async function fetchCrl(url: string, ca?: string): Promise<{ der: Buffer; crl: ParsedCrl; headers: BinaryResponse['headers'] }> {
  const res = await binaryRequest(url, ca ? { ca } : {});
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${res.body.toString('utf8').slice(0, 200)}`);
  if (mediaTypeOf(res) !== 'application/pkix-crl') throw new Error(`GET ${url}: Content-Type ${String(res.headers['content-type'])}, expected application/pkix-crl`);
  return { der: res.body, crl: parseCrl(res.body), headers: res.headers };
}

/**
 * Polls a CRL URL until `done(crl)` holds (bounded); returns that CRL and when it was seen. The
 * error names the last CRL's number and entries, so a timeout explains itself.
 */
export async function waitForCrl(url: string, done: (crl: ParsedCrl) => boolean, timeoutMs: number, ca?: string): Promise<{ der: Buffer; crl: ParsedCrl; seenAfterMs: number }> {
  const started = Date.now();
  let last: ParsedCrl | undefined;
  for (;;) {
    const { der, crl } = await fetchCrl(url, ca);
    last = crl;
    if (done(crl)) return { der, crl, seenAfterMs: Date.now() - started };
    if (Date.now() - started > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${url}; last CRL number ${last.number}, thisUpdate ${last.thisUpdate.toISOString()}, entries [${[...last.entries.keys()].join(', ')}]`);
    }
    await sleep(100);
  }
}
