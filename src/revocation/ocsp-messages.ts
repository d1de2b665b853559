/**
 * OCSP wire messages (RFC 6960 §4) with the @peculiar/asn1-ocsp schemas: request parsing with the
 * checks RFC 5019 and RFC 8954 ask for, and response building and signing.
 */
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  BasicOCSPResponse,
  CertID,
  CertStatus,
  KeyHash,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import { CRLReason, Extension } from '@peculiar/asn1-x509';
import { toArrayBuffer } from '../ca/certificate-builder.js';
import { parseWholeDer } from '../ca/der.js';
import type { OcspResponder } from './ocsp-responder-cert.js';

export const HASH_OIDS = { sha1: '1.3.14.3.2.26', sha256: '2.16.840.1.101.3.4.2.1' } as const;
const HASH_LENGTHS: Record<string, number> = { [HASH_OIDS.sha1]: 20, [HASH_OIDS.sha256]: 32 };

/** Most CertIDs one request may carry; RFC 5019 clients send exactly one. */
export const MAX_REQUESTS = 8;

/** An OCSP request refused as a whole, answered with this status and no responseBytes. */
export class OcspFailure extends Error {
  override readonly name = 'OcspFailure';
  constructor(
    readonly status: OCSPResponseStatus,
    message: string,
  ) {
    super(message);
  }
}

export interface ParsedOcspRequest {
  certIds: CertID[];
  /** The nonce extension exactly as received (RFC 8954), echoed in the response. */
  nonce?: Extension;
}

export function parseOcspRequest(der: Uint8Array): ParsedOcspRequest {
  let request: OCSPRequest;
  try {
    request = parseWholeDer(der, OCSPRequest);
  } catch (e) {
    throw new OcspFailure(OCSPResponseStatus.malformedRequest, `not a DER OCSPRequest (${(e as Error).message})`);
  }
  const tbs = request.tbsRequest;
  if (tbs.version !== 0) throw new OcspFailure(OCSPResponseStatus.malformedRequest, 'unsupported OCSPRequest version');
  if (tbs.requestList.length === 0) throw new OcspFailure(OCSPResponseStatus.malformedRequest, 'empty requestList');
  if (tbs.requestList.length > MAX_REQUESTS) {
    throw new OcspFailure(OCSPResponseStatus.malformedRequest, `more than ${MAX_REQUESTS} certificates in one request`);
  }
  let nonce: Extension | undefined;
  for (const ext of tbs.requestExtensions ?? []) {
    if (ext.extnID === id_pkix_ocsp_nonce) {
      checkNonce(ext);
      nonce = ext;
    } else if (ext.critical) {
      throw new OcspFailure(OCSPResponseStatus.malformedRequest, `unsupported critical extension ${ext.extnID}`);
    }
  }
  const certIds = tbs.requestList.map((r) => {
    const id = r.reqCert;
    const length = HASH_LENGTHS[id.hashAlgorithm.algorithm];
    if (length === undefined) {
      throw new OcspFailure(OCSPResponseStatus.malformedRequest, `CertID hash algorithm ${id.hashAlgorithm.algorithm} is not supported (use SHA-1 or SHA-256)`);
    }
    if (id.issuerNameHash.byteLength !== length || id.issuerKeyHash.byteLength !== length) {
      throw new OcspFailure(OCSPResponseStatus.malformedRequest, 'CertID hash lengths do not match the hash algorithm');
    }
    return id;
  });
  return nonce ? { certIds, nonce } : { certIds };
}

/** RFC 8954 §2.1: Nonce ::= OCTET STRING (SIZE(1..32)); anything else is refused. */
function checkNonce(ext: Extension): void {
  let value: OctetString;
  try {
    value = parseWholeDer(ext.extnValue.buffer, OctetString);
  } catch {
    throw new OcspFailure(OCSPResponseStatus.malformedRequest, 'nonce extension is not an OCTET STRING');
  }
  if (value.byteLength < 1 || value.byteLength > 32) {
    throw new OcspFailure(OCSPResponseStatus.malformedRequest, `nonce of ${value.byteLength} bytes; RFC 8954 allows 1 to 32`);
  }
}

/** Positive serial bytes without leading zero octets, as lowercase hex (our stored form). */
export function serialOfCertId(id: CertID): string {
  const bytes = Buffer.from(id.serialNumber);
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return bytes.subarray(start).toString('hex');
}

export type CertState = { status: 'good' } | { status: 'revoked'; revokedAt: Date; reason: number | null } | { status: 'unknown' };

export interface SingleAnswer {
  certId: CertID;
  state: CertState;
}

/**
 * Signs a successful response (RFC 6960 §4.2.1) for the answers, with the nonce echoed if given.
 * A null nextUpdate is left out (§2.4: newer information is always available), for certificates
 * that have expired, whose answer cannot be valid until a time at or before their notAfter.
 */
export async function signOcspResponse(
  responder: OcspResponder,
  answers: SingleAnswer[],
  thisUpdate: Date,
  nextUpdate: Date | null,
  nonce?: Extension,
): Promise<Uint8Array> {
  const data = new ResponseData({
    responderID: new ResponderID({ byKey: new KeyHash(responder.responderKeyHash) }),
    producedAt: wholeSeconds(new Date()),
    responses: answers.map(
      (a) =>
        new SingleResponse({
          certID: a.certId,
          certStatus: certStatus(a.state),
          thisUpdate: wholeSeconds(thisUpdate),
          ...(nextUpdate ? { nextUpdate: wholeSeconds(nextUpdate) } : {}),
        }),
    ),
  });
  if (nonce) data.responseExtensions = [nonce];
  const tbs = new Uint8Array(AsnConvert.serialize(data));
  const signature = await responder.signer.sign(tbs);
  const basic = new BasicOCSPResponse({
    tbsResponseData: data,
    signatureAlgorithm: responder.signer.scheme.identifier(),
    signature: toArrayBuffer(signature),
    certs: [responder.cert],
  });
  const response = new OCSPResponse({
    responseStatus: OCSPResponseStatus.successful,
    responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(AsnConvert.serialize(basic)) }),
  });
  return new Uint8Array(AsnConvert.serialize(response));
}

function certStatus(state: CertState): CertStatus {
  switch (state.status) {
    case 'good':
      return new CertStatus({ good: null });
    case 'unknown':
      return new CertStatus({ unknown: null });
    case 'revoked': {
      const info = new RevokedInfo({ revocationTime: wholeSeconds(state.revokedAt) });
      // RFC 5280 §5.3.1: the reason is omitted rather than given as unspecified (0).
      if (state.reason !== null && state.reason !== 0) info.revocationReason = new CRLReason(state.reason);
      return new CertStatus({ revoked: info });
    }
  }
}

const errorResponses = new Map<OCSPResponseStatus, Uint8Array>();

/** An unsuccessful response: just the status (RFC 6960 §2.3), no responseBytes. */
export function ocspErrorResponse(status: OCSPResponseStatus): Uint8Array {
  let der = errorResponses.get(status);
  if (!der) {
    der = new Uint8Array(AsnConvert.serialize(new OCSPResponse({ responseStatus: status })));
    errorResponses.set(status, der);
  }
  return der;
}

/** X.509 times carry whole seconds (RFC 5280 §4.1.2.5.2); so do ours in OCSP and CRLs. */
export function wholeSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

export { OCSPResponseStatus };
