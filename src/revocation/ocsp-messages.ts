/**
 * OCSP wire messages (RFC 6960 §4) with the @peculiar/asn1-ocsp schemas: request parsing with the
 * checks RFC 5019 and RFC 8954 ask for, and response building and signing.
 */
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  CertID,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import { Extension } from '@peculiar/asn1-x509';
import { parseWholeDer } from '../ca/der.js';
import {
  bitStringOfBytes,
  contextConstructed,
  contextPrimitive,
  extensionDer,
  generalizedTime,
  integerFromContent,
  objectIdentifier,
  octetString,
  sequence,
  TAG,
  tlv,
} from '../ca/der-writer.js';
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
  /** The CertID as parsed from a request (echoed as the schema encodes it), or its DER. */
  certId: CertID | Uint8Array;
  state: CertState;
}

/** What every response of one responder carries unchanged, encoded once. */
interface ResponderParts {
  responderId: Uint8Array;
  certs: Uint8Array;
}
const responderParts = new WeakMap<OcspResponder, ResponderParts>();

function partsOf(responder: OcspResponder): ResponderParts {
  let parts = responderParts.get(responder);
  if (!parts) {
    parts = {
      // ResponderID byKey: [2] EXPLICIT KeyHash (OCTET STRING).
      responderId: tlv(contextConstructed(2), octetString(responder.responderKeyHash)),
      // certs [0] EXPLICIT SEQUENCE OF Certificate: the delegated responder's own certificate.
      certs: tlv(contextConstructed(0), sequence(responder.certDer)),
    };
    responderParts.set(responder, parts);
  }
  return parts;
}

const OID_OCSP_BASIC = objectIdentifier(id_pkix_ocsp_basic);
const OID_SHA1_WITH_NULL = sequence(objectIdentifier(HASH_OIDS.sha1), Uint8Array.of(0x05, 0x00));
const SUCCESSFUL = Uint8Array.of(TAG.enumerated, 1, OCSPResponseStatus.successful);
const GOOD = Uint8Array.of(contextPrimitive(0), 0);
const UNKNOWN = Uint8Array.of(contextPrimitive(2), 0);

/** The SHA-1 CertID (RFC 6960 §4.1.1) of a serial under the responder's issuer. */
export function sha1CertIdDer(responder: OcspResponder, serialHex: string): Uint8Array {
  const hashes = responder.issuerHashes.sha1;
  return sequence(OID_SHA1_WITH_NULL, octetString(hashes.nameHash), octetString(hashes.keyHash), integerFromContent(Buffer.from(serialHex, 'hex')));
}

/**
 * Signs a successful response (RFC 6960 §4.2.1) for the answers, with the nonce echoed if given.
 * A null nextUpdate is left out (§2.4: newer information is always available), for certificates
 * that have expired, whose answer cannot be valid until a time at or before their notAfter.
 * Written with der-writer around the responder's pre-encoded parts; the unit tests hold the
 * bytes equal to the asn1-ocsp schema encoding.
 */
export async function signOcspResponse(
  responder: OcspResponder,
  answers: SingleAnswer[],
  thisUpdate: Date,
  nextUpdate: Date | null,
  nonce?: Extension,
  producedAt = new Date(),
): Promise<Uint8Array> {
  const parts = partsOf(responder);
  const thisUpdateDer = generalizedTime(thisUpdate);
  const nextUpdateDer = nextUpdate ? tlv(contextConstructed(0), generalizedTime(nextUpdate)) : undefined;
  const singles = answers.map((a) => {
    const certId = a.certId instanceof Uint8Array ? a.certId : certIdDer(a.certId);
    const status = certStatusDer(a.state);
    return nextUpdateDer ? sequence(certId, status, thisUpdateDer, nextUpdateDer) : sequence(certId, status, thisUpdateDer);
  });
  const data = [parts.responderId, generalizedTime(producedAt), sequence(...singles)];
  // responseExtensions [1] EXPLICIT Extensions: the nonce extension exactly as the schema re-encodes it.
  if (nonce) data.push(tlv(contextConstructed(1), sequence(extensionDer(oidDer(nonce.extnID), nonce.critical, new Uint8Array(nonce.extnValue.buffer)))));
  const tbs = sequence(...data);
  const signature = await responder.signer.sign(tbs);
  const basic = sequence(tbs, responder.signer.scheme.identifierDer, bitStringOfBytes(signature), parts.certs);
  return sequence(SUCCESSFUL, tlv(contextConstructed(0), sequence(OID_OCSP_BASIC, octetString(basic))));
}

const OID_DER = new Map<string, Uint8Array>([HASH_OIDS.sha1, HASH_OIDS.sha256, id_pkix_ocsp_nonce].map((oid) => [oid, objectIdentifier(oid)]));
const oidDer = (oid: string): Uint8Array => OID_DER.get(oid) ?? objectIdentifier(oid);
const NULL = Uint8Array.of(TAG.null, 0);

/**
 * A request's CertID written back as the schema would re-encode it: the hash algorithm's
 * parameters as parsed (NULL, other DER, or absent), the hashes and the serial's content octets.
 */
function certIdDer(id: CertID): Uint8Array {
  const { algorithm, parameters } = id.hashAlgorithm;
  const params = parameters === null ? [NULL] : parameters === undefined ? [] : [new Uint8Array(parameters)];
  return sequence(
    sequence(oidDer(algorithm), ...params),
    octetString(new Uint8Array(id.issuerNameHash.buffer)),
    octetString(new Uint8Array(id.issuerKeyHash.buffer)),
    integerFromContent(new Uint8Array(id.serialNumber)),
  );
}

function certStatusDer(state: CertState): Uint8Array {
  switch (state.status) {
    case 'good':
      return GOOD;
    case 'unknown':
      return UNKNOWN;
    case 'revoked': {
      // revoked [1] IMPLICIT RevokedInfo; the reason [0] EXPLICIT CRLReason is omitted rather
      // than given as unspecified (0) (RFC 5280 §5.3.1).
      const time = generalizedTime(state.revokedAt);
      return state.reason !== null && state.reason !== 0
        ? tlv(contextConstructed(1), time, tlv(contextConstructed(0), Uint8Array.of(TAG.enumerated, 1, state.reason)))
        : tlv(contextConstructed(1), time);
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
