/**
 * PKCS#10 CSR parsing and self-signature check (RFC 2986), with the names it requests.
 * Structure comes from @peculiar/asn1-csr; every failure is a badCSR problem naming the fault.
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { Extensions, GeneralNames, id_ce_subjectAltName, type SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { problems } from '../acme/problem.js';
import { keyTypeOf, OID, verifyParamsFor, type KeyType } from './algorithms.js';
import { objectIdentifier } from './der-writer.js';
import { parseWholeDer } from './der.js';

const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_COMMON_NAME = '2.5.4.3';

export interface ParsedCsr {
  spkiDer: Uint8Array;
  /** The SubjectPublicKeyInfo's BIT STRING value. */
  subjectPublicKey: Uint8Array;
  publicKey: KeyObject;
  /** Profile vocabulary (`ecdsa-p256`, `rsa2048`, ...); undefined for key types we do not know. */
  keyType: KeyType | undefined;
  dnsNames: string[];
  ipAddresses: string[];
  commonNames: string[];
}

const NAMED_CURVES = [
  { oid: objectIdentifier(OID.p256), crv: 'P-256', size: 32 },
  { oid: objectIdentifier(OID.p384), crv: 'P-384', size: 48 },
  { oid: objectIdentifier(OID.p521), crv: 'P-521', size: 66 },
];

/**
 * The CSR's key as a KeyObject. OpenSSL's SPKI decoder costs about twice its JWK import, so an
 * EC key on a named curve with an uncompressed point (what every ACME client sends) goes in as
 * a JWK of the coordinates the schema parse already split out; the import checks the point is on
 * the curve. Anything else goes through the SPKI decoder.
 */
function publicKeyOf(spki: SubjectPublicKeyInfo, spkiDer: Uint8Array): KeyObject {
  const params = spki.algorithm.parameters ? Buffer.from(spki.algorithm.parameters) : undefined;
  if (spki.algorithm.algorithm === OID.ecPublicKey && params) {
    const point = Buffer.from(spki.subjectPublicKey);
    const curve = NAMED_CURVES.find((c) => params.equals(c.oid));
    if (curve && point.length === 1 + 2 * curve.size && point[0] === 0x04) {
      const x = point.subarray(1, 1 + curve.size).toString('base64url');
      const y = point.subarray(1 + curve.size).toString('base64url');
      return createPublicKey({ key: { kty: 'EC', crv: curve.crv, x, y }, format: 'jwk' });
    }
  }
  return createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
}

export function parseCsr(der: Uint8Array): ParsedCsr {
  let csr: CertificationRequest;
  try {
    csr = parseWholeDer(der, CertificationRequest);
  } catch (e) {
    throw problems.badCSR(`CSR is not a DER-encoded PKCS#10 CertificationRequest (${(e as Error).message})`);
  }
  const info = csr.certificationRequestInfo;
  if (info.version !== 0) throw problems.badCSR('CSR version must be 1 (encoded 0)');
  const spkiDer = new Uint8Array(AsnConvert.serialize(info.subjectPKInfo));
  let publicKey: KeyObject;
  try {
    publicKey = publicKeyOf(info.subjectPKInfo, spkiDer);
  } catch {
    throw problems.badPublicKey('CSR public key cannot be parsed');
  }

  const params = verifyParamsFor(csr.signatureAlgorithm.algorithm);
  if (!params) throw problems.badCSR(`CSR signature algorithm ${csr.signatureAlgorithm.algorithm} is not supported`);
  const signedBytes = csr.certificationRequestInfoRaw ?? AsnConvert.serialize(info);
  let signatureOk = false;
  try {
    signatureOk = nodeVerify(
      params.digest,
      new Uint8Array(signedBytes),
      { key: publicKey, dsaEncoding: 'der' },
      new Uint8Array(csr.signature),
    );
  } catch {
    signatureOk = false;
  }
  if (!signatureOk) throw problems.badCSR('CSR signature does not verify with its public key');

  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const attribute of info.attributes) {
    if (attribute.type !== OID_EXTENSION_REQUEST) continue;
    for (const value of attribute.values) {
      let extensions: Extensions;
      try {
        extensions = parseWholeDer(value, Extensions);
      } catch {
        throw problems.badCSR('CSR extensionRequest attribute is malformed');
      }
      for (const ext of extensions) {
        if (ext.extnID !== id_ce_subjectAltName) continue;
        let names: GeneralNames;
        try {
          names = parseWholeDer(ext.extnValue.buffer, GeneralNames);
        } catch {
          throw problems.badCSR('CSR subjectAltName extension is malformed');
        }
        for (const name of names) {
          if (name.dNSName !== undefined) dnsNames.push(name.dNSName);
          else if (name.iPAddress !== undefined) ipAddresses.push(name.iPAddress);
          else throw problems.badCSR('CSR subjectAltName may hold only DNS names and IP addresses');
        }
      }
    }
  }

  const commonNames: string[] = [];
  for (const rdn of info.subject) {
    for (const atv of rdn) {
      if (atv.type === OID_COMMON_NAME) commonNames.push(atv.value.toString());
    }
  }
  return { spkiDer, subjectPublicKey: new Uint8Array(info.subjectPKInfo.subjectPublicKey), publicKey, keyType: keyTypeOf(publicKey), dnsNames, ipAddresses, commonNames };
}
