/**
 * PKCS#10 CSR parsing and self-signature check (RFC 2986), with the names it requests.
 * Structure comes from @peculiar/asn1-csr; every failure is a badCSR problem naming the fault.
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { Extensions, GeneralNames, id_ce_subjectAltName } from '@peculiar/asn1-x509';
import { problems } from '../acme/problem.js';
import { keyTypeOf, verifyParamsFor, type KeyType } from './algorithms.js';
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
    publicKey = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
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
