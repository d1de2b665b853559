/**
 * The relying-party half of the probe: ask the OCSP responder named in the certificate (signature
 * checked, responder authorized by the issuer) and fetch the CRL its distribution point names
 * (signature and freshness checked), as a TLS client of the fleet would.
 */
import { createHash, verify as cryptoVerify, type X509Certificate } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { BasicOCSPResponse, CertID, OCSPRequest, OCSPResponse, OCSPResponseStatus, Request, TBSRequest } from '@peculiar/asn1-ocsp';
import {
  AlgorithmIdentifier,
  AuthorityInfoAccessSyntax,
  Certificate,
  CertificateList,
  CRLDistributionPoints,
  id_ce_cRLDistributionPoints,
  id_pe_authorityInfoAccess,
} from '@peculiar/asn1-x509';
import { verifyParamsFor } from '../ca/algorithms.js';
import { toArrayBuffer } from '../ca/certificate-builder.js';

const ID_AD_OCSP = '1.3.6.1.5.5.7.48.1';
const SHA1 = '1.3.14.3.2.26';

const parseCert = (c: X509Certificate) => AsnConvert.parse(toArrayBuffer(new Uint8Array(c.raw)), Certificate);

function extensionValue(cert: Certificate, oid: string): ArrayBuffer | undefined {
  return cert.tbsCertificate.extensions?.find((e) => e.extnID === oid)?.extnValue.buffer;
}

export async function checkOcsp(leaf: X509Certificate, issuer: X509Certificate, expect: 'good' | 'revoked'): Promise<void> {
  const leafAsn = parseCert(leaf);
  const issuerAsn = parseCert(issuer);
  const aia = extensionValue(leafAsn, id_pe_authorityInfoAccess);
  const url = aia && AsnConvert.parse(aia, AuthorityInfoAccessSyntax).find((a) => a.accessMethod === ID_AD_OCSP)?.accessLocation.uniformResourceIdentifier;
  if (!url) throw new Error('the certificate names no OCSP responder');
  const certId = new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: SHA1, parameters: new Uint8Array([5, 0]).buffer }),
    issuerNameHash: new OctetString(createHash('sha1').update(new Uint8Array(AsnConvert.serialize(issuerAsn.tbsCertificate.subject))).digest()),
    issuerKeyHash: new OctetString(createHash('sha1').update(new Uint8Array(issuerAsn.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey)).digest()),
    serialNumber: leafAsn.tbsCertificate.serialNumber,
  });
  const requestDer = AsnConvert.serialize(new OCSPRequest({ tbsRequest: new TBSRequest({ requestList: [new Request({ reqCert: certId })] }) }));
  const body = await fetchBytes(url, { method: 'POST', body: Buffer.from(requestDer), contentType: 'application/ocsp-request' });
  const response = AsnConvert.parse(toArrayBuffer(body), OCSPResponse);
  if (response.responseStatus !== OCSPResponseStatus.successful || !response.responseBytes) {
    throw new Error(`OCSP responder answered ${OCSPResponseStatus[response.responseStatus]}`);
  }
  const basic = AsnConvert.parse(response.responseBytes.response.buffer, BasicOCSPResponse);
  // The response must be signed by the issuer or by a responder certificate the issuer signed.
  const signerCert = basic.certs?.[0];
  const signerKey = signerCert ? signerCert.tbsCertificate.subjectPublicKeyInfo : issuerAsn.tbsCertificate.subjectPublicKeyInfo;
  if (signerCert && !verifySigned(new Uint8Array(AsnConvert.serialize(signerCert.tbsCertificate)), signerCert.signatureAlgorithm.algorithm, signerCert.signatureValue, issuerAsn)) {
    throw new Error('the OCSP responder certificate is not signed by the issuer');
  }
  const tbs = basic.tbsResponseDataRaw ? new Uint8Array(basic.tbsResponseDataRaw) : new Uint8Array(AsnConvert.serialize(basic.tbsResponseData));
  if (!verifyWithSpki(tbs, basic.signatureAlgorithm.algorithm, basic.signature, new Uint8Array(AsnConvert.serialize(signerKey)))) {
    throw new Error('the OCSP response signature does not verify');
  }
  const single = basic.tbsResponseData.responses[0];
  if (!single) throw new Error('the OCSP response holds no answer');
  const status = single.certStatus.revoked ? 'revoked' : single.certStatus.good !== undefined ? 'good' : 'unknown';
  if (status !== expect) throw new Error(`OCSP says ${status}, expected ${expect}`);
  if (single.nextUpdate && single.nextUpdate.getTime() < Date.now()) throw new Error('the OCSP answer is past its nextUpdate');
}

export async function checkCrl(leaf: X509Certificate, issuer: X509Certificate, waitMs: number): Promise<void> {
  const leafAsn = parseCert(leaf);
  const issuerAsn = parseCert(issuer);
  const cdp = extensionValue(leafAsn, id_ce_cRLDistributionPoints);
  const url = cdp && AsnConvert.parse(cdp, CRLDistributionPoints)[0]?.distributionPoint?.fullName?.[0]?.uniformResourceIdentifier;
  if (!url) throw new Error('the certificate names no CRL distribution point');
  const serial = Buffer.from(leafAsn.tbsCertificate.serialNumber).toString('hex');
  const deadline = Date.now() + waitMs;
  for (;;) {
    const crl = AsnConvert.parse(toArrayBuffer(await fetchBytes(url, { method: 'GET' })), CertificateList);
    const tbs = crl.tbsCertListRaw ? new Uint8Array(crl.tbsCertListRaw) : new Uint8Array(AsnConvert.serialize(crl.tbsCertList));
    if (!verifySigned(tbs, crl.signatureAlgorithm.algorithm, crl.signature, issuerAsn)) throw new Error('the CRL signature does not verify with the issuer key');
    const next = crl.tbsCertList.nextUpdate?.getTime();
    if (!next || next.getTime() < Date.now()) throw new Error(`the CRL is stale (nextUpdate ${next?.toISOString() ?? 'missing'})`);
    const listed = (crl.tbsCertList.revokedCertificates ?? []).some((e) => Buffer.from(e.userCertificate).toString('hex') === serial);
    if (listed) return;
    if (Date.now() > deadline) throw new Error(`the CRL does not list serial ${serial} after ${Math.round(waitMs / 1000)}s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function verifySigned(tbs: Uint8Array, algorithm: string, signature: ArrayBuffer, issuer: Certificate): boolean {
  return verifyWithSpki(tbs, algorithm, signature, new Uint8Array(AsnConvert.serialize(issuer.tbsCertificate.subjectPublicKeyInfo)));
}

function verifyWithSpki(data: Uint8Array, algorithm: string, signature: ArrayBuffer, spki: Uint8Array): boolean {
  const params = verifyParamsFor(algorithm);
  if (!params) return false;
  try {
    return cryptoVerify(params.digest, data, { key: Buffer.from(spki), format: 'der', type: 'spki', dsaEncoding: 'der' }, new Uint8Array(signature));
  } catch {
    return false;
  }
}

function fetchBytes(url: string, o: { method: 'GET' | 'POST'; body?: Buffer; contentType?: string }): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(
      url,
      { method: o.method, timeout: 10_000, rejectUnauthorized: false, headers: o.contentType ? { 'Content-Type': o.contentType } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => (res.statusCode === 200 ? resolve(new Uint8Array(Buffer.concat(chunks))) : reject(new Error(`HTTP ${res.statusCode} from ${url}`))));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout fetching ${url}`)));
    req.on('error', (e) => reject(new Error(`cannot reach ${url}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
    req.end(o.body);
  });
}
