/**
 * ACME Renewal Information (RFC 9773) from the test's side: the certificate identifier computed
 * independently of the server (§4.1: base64url of the Authority Key Identifier's keyIdentifier,
 * ".", base64url of the DER INTEGER content bytes of the serial), and an unauthenticated GET of
 * the renewalInfo resource.
 */
import { X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AuthorityKeyIdentifier, Certificate, id_ce_authorityKeyIdentifier } from '@peculiar/asn1-x509';
import { httpsRequest, type HttpResponse } from './raw-acme.js';

/** The parts of a certificate's RFC 9773 CertID, as raw bytes. */
export interface CertIdBytes {
  keyIdentifier: Buffer;
  /** The serial's DER INTEGER content octets (with a leading 0x00 when the high bit is set). */
  serial: Buffer;
}

/** The DER of the first certificate in `pem` (a leaf, or a chain whose first block is the leaf). */
export function leafDer(pem: string): Buffer {
  return Buffer.from(new X509Certificate(pem).raw);
}

/** Reads the AKI keyIdentifier and the serial content bytes out of a certificate's DER. */
export function certIdBytes(pem: string): CertIdBytes {
  const der = leafDer(pem);
  const cert = AsnConvert.parse(der, Certificate);
  const aki = cert.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_authorityKeyIdentifier);
  if (!aki) throw new Error('certificate has no Authority Key Identifier extension');
  const parsed = AsnConvert.parse(aki.extnValue.buffer, AuthorityKeyIdentifier);
  if (!parsed.keyIdentifier) throw new Error('the Authority Key Identifier has no keyIdentifier');
  return {
    keyIdentifier: Buffer.from(parsed.keyIdentifier.buffer),
    serial: Buffer.from(cert.tbsCertificate.serialNumber),
  };
}

/** `base64url(keyIdentifier) "." base64url(serial)` (RFC 9773 §4.1), unpadded. */
export function ariCertId(pem: string): string {
  const { keyIdentifier, serial } = certIdBytes(pem);
  return `${keyIdentifier.toString('base64url')}.${serial.toString('base64url')}`;
}

/** A suggested window as served, parsed to dates. */
export interface SuggestedWindow {
  start: Date;
  end: Date;
}

/** Unauthenticated GET `<renewalInfo>/<certId>` (RFC 9773 §4.1): plain HTTPS, no JWS. */
export function getRenewalInfo(renewalInfoUrl: string, certId: string, ca: string): Promise<HttpResponse> {
  return httpsRequest(`${renewalInfoUrl}/${certId}`, { ca });
}

/** The `suggestedWindow` of a 200 renewalInfo answer; throws with the body otherwise. */
export function suggestedWindow(res: HttpResponse): SuggestedWindow {
  if (res.status !== 200) throw new Error(`renewalInfo answered ${res.status}: ${res.body}`);
  const w = res.json?.suggestedWindow;
  if (!w || typeof w.start !== 'string' || typeof w.end !== 'string') throw new Error(`no suggestedWindow {start, end} in ${res.body}`);
  const start = new Date(w.start);
  const end = new Date(w.end);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) throw new Error(`suggestedWindow times are not RFC 3339: ${res.body}`);
  return { start, end };
}
