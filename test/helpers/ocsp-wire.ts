/**
 * OCSP messages for tests, built and read with the @peculiar/asn1-ocsp schemas (RFC 6960 §4):
 * CertIDs for any hash algorithm (including ones a responder must refuse), requests with or
 * without a nonce (RFC 8954), and responses parsed down to each SingleResponse, with the
 * signature checked against the certificate the response carries.
 */
import { createHash, verify as verifySignature, X509Certificate } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  BasicOCSPResponse,
  CertID,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  Request,
  TBSRequest,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import { AlgorithmIdentifier, Certificate, Extension } from '@peculiar/asn1-x509';

export { OCSPResponseStatus };

/** Hash algorithm OIDs a CertID may name (RFC 6960 §4.1.1); only sha1/sha256 are served. */
export const HASH_OID = {
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  md5: '1.2.840.113549.2.5',
} as const;
export type HashName = keyof typeof HASH_OID;

const NODE_HASH: Record<HashName, string> = { sha1: 'sha1', sha256: 'sha256', sha384: 'sha384', md5: 'md5' };

const ab = (bytes: Uint8Array): ArrayBuffer => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
const pemOrDer = (cert: string | Uint8Array): Uint8Array => (typeof cert === 'string' ? new Uint8Array(new X509Certificate(cert).raw) : cert);

/** The issuer's DER subject Name and its subjectPublicKey BIT STRING value, as CertID hashes them. */
export function issuerHashInputs(issuer: string | Uint8Array): { nameDer: Uint8Array; keyBits: Uint8Array } {
  const cert = AsnConvert.parse(ab(pemOrDer(issuer)), Certificate);
  return {
    nameDer: new Uint8Array(AsnConvert.serialize(cert.tbsCertificate.subject)),
    keyBits: new Uint8Array(cert.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey),
  };
}

/** The serial INTEGER content bytes of a certificate. */
export function serialBytes(cert: string | Uint8Array): Uint8Array {
  return new Uint8Array(AsnConvert.parse(ab(pemOrDer(cert)), Certificate).tbsCertificate.serialNumber);
}

export interface CertIdOptions {
  hash?: HashName;
  /** Replace the serial (e.g. one the CA never issued). */
  serial?: Uint8Array;
  /** Replace the issuer hashes (e.g. random bytes for an unknown issuer). */
  nameHash?: Uint8Array;
  keyHash?: Uint8Array;
}

/** CertID (RFC 6960 §4.1.1) of `leaf` under `issuer`; the hash algorithm carries NULL parameters as openssl sends them. */
export function certIdOf(leaf: string | Uint8Array | null, issuer: string | Uint8Array, o: CertIdOptions = {}): CertID {
  const hash = o.hash ?? 'sha1';
  const { nameDer, keyBits } = issuerHashInputs(issuer);
  const serial = o.serial ?? (leaf ? serialBytes(leaf) : undefined);
  if (!serial) throw new Error('certIdOf: give a leaf or a serial');
  return new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: HASH_OID[hash], parameters: ab(new Uint8Array([0x05, 0x00])) }),
    issuerNameHash: new OctetString(o.nameHash ?? createHash(NODE_HASH[hash]).update(nameDer).digest()),
    issuerKeyHash: new OctetString(o.keyHash ?? createHash(NODE_HASH[hash]).update(keyBits).digest()),
    serialNumber: ab(serial),
  });
}

/** The nonce request extension (RFC 8954 §2.1): extnValue is the DER OCTET STRING holding the nonce. */
export function nonceExtension(nonce: Uint8Array, critical = false): Extension {
  return new Extension({ extnID: id_pkix_ocsp_nonce, critical, extnValue: new OctetString(AsnConvert.serialize(new OctetString(nonce))) });
}

export interface RequestOptions {
  nonce?: Uint8Array;
  extensions?: Extension[];
}

/** A DER OCSPRequest for the CertIDs (unsigned, version v1). */
export function ocspRequest(certIds: CertID[], o: RequestOptions = {}): Uint8Array {
  const extensions = [...(o.nonce ? [nonceExtension(o.nonce)] : []), ...(o.extensions ?? [])];
  const tbs = new TBSRequest({ requestList: certIds.map((reqCert) => new Request({ reqCert })) });
  if (extensions.length > 0) tbs.requestExtensions = extensions;
  return new Uint8Array(AsnConvert.serialize(new OCSPRequest({ tbsRequest: tbs })));
}

export type CertStatusName = 'good' | 'revoked' | 'unknown';

export interface ParsedSingle {
  serialHex: string;
  hashOid: string;
  status: CertStatusName;
  revocationTime?: Date;
  /** CRLReason code when the response carries one (absent for unspecified, RFC 5280 §5.3.1). */
  reason?: number;
  thisUpdate: Date;
  nextUpdate?: Date;
}

export interface ParsedOcspResponse {
  responseStatus: OCSPResponseStatus;
  /** Present for successful responses. */
  basic?: {
    producedAt: Date;
    singles: ParsedSingle[];
    /** The nonce value (inner OCTET STRING content) when the response echoes one. */
    nonce?: Uint8Array;
    /** The raw nonce extnValue, to compare byte for byte with the request's. */
    nonceExtnValue?: Uint8Array;
    signerCertDer?: Uint8Array;
    /** Whether the signature verifies with the first certificate in `certs`. */
    signatureValid: boolean;
    responderKeyHash?: Uint8Array;
  };
}

/** The hash of each ECDSA and RSA signature algorithm (by OID) the CA may sign with, for node's verify(). */
export const SIG_HASH: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};

/** Parses a DER OCSPResponse; throws if it is not one. */
export function parseOcspResponse(der: Uint8Array): ParsedOcspResponse {
  const response = AsnConvert.parse(ab(der), OCSPResponse);
  const out: ParsedOcspResponse = { responseStatus: response.responseStatus };
  if (!response.responseBytes) return out;
  if (response.responseBytes.responseType !== id_pkix_ocsp_basic) throw new Error(`unexpected responseType ${response.responseBytes.responseType}`);
  const basicDer = new Uint8Array(response.responseBytes.response.buffer);
  const basic = AsnConvert.parse(ab(basicDer), BasicOCSPResponse);
  const data = basic.tbsResponseData;
  const signerCertDer = basic.certs?.[0] ? new Uint8Array(AsnConvert.serialize(basic.certs[0])) : undefined;
  let signatureValid = false;
  if (signerCertDer) {
    const tbs = basic.tbsResponseDataRaw ? new Uint8Array(basic.tbsResponseDataRaw) : new Uint8Array(AsnConvert.serialize(data));
    const publicKey = new X509Certificate(Buffer.from(signerCertDer)).publicKey;
    const hash = SIG_HASH[basic.signatureAlgorithm.algorithm] ?? null;
    signatureValid = verifySignature(hash, tbs, publicKey, Buffer.from(basic.signature));
  }
  const nonceExt = data.responseExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
  const singles = data.responses.map((s): ParsedSingle => {
    const single: ParsedSingle = {
      serialHex: Buffer.from(s.certID.serialNumber).toString('hex'),
      hashOid: s.certID.hashAlgorithm.algorithm,
      status: s.certStatus.revoked ? 'revoked' : s.certStatus.unknown !== undefined ? 'unknown' : 'good',
      thisUpdate: s.thisUpdate,
    };
    if (s.nextUpdate) single.nextUpdate = s.nextUpdate;
    if (s.certStatus.revoked) {
      single.revocationTime = s.certStatus.revoked.revocationTime;
      if (s.certStatus.revoked.revocationReason) single.reason = s.certStatus.revoked.revocationReason.reason;
    }
    return single;
  });
  out.basic = { producedAt: data.producedAt, singles, signatureValid };
  if (signerCertDer) out.basic.signerCertDer = signerCertDer;
  if (data.responderID.byKey) out.basic.responderKeyHash = new Uint8Array(data.responderID.byKey.buffer);
  if (nonceExt) {
    out.basic.nonceExtnValue = new Uint8Array(nonceExt.extnValue.buffer);
    out.basic.nonce = new Uint8Array(AsnConvert.parse(nonceExt.extnValue.buffer, OctetString).buffer);
  }
  return out;
}

/** The nonce value an OCSPRequest carries (e.g. one written by `openssl ocsp -reqout`), if any. */
export function requestNonce(der: Uint8Array): Uint8Array | undefined {
  const request = AsnConvert.parse(ab(der), OCSPRequest);
  const ext = request.tbsRequest.requestExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
  return ext ? new Uint8Array(AsnConvert.parse(ext.extnValue.buffer, OctetString).buffer) : undefined;
}
