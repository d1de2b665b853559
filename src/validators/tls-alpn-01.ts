/**
 * tls-alpn-01 (RFC 8737; IP identifiers per RFC 8738 §6): a TLS handshake offering only ALPN
 * `acme-tls/1`, with SNI naming the identifier, must present a certificate whose single SAN is the
 * identifier and whose critical acmeIdentifier extension holds SHA-256 of the key authorization.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { Certificate, GeneralNames, id_ce_subjectAltName } from '@peculiar/asn1-x509';
import type { Identifier } from '../acme/problem.js';
import { AcmeProblem, problems } from '../acme/problem.js';
import { canonicalIp } from '../domain/identifiers.js';
import type { AddressLookup } from './resolver.js';
import { ValidationFailure, type ValidationRecord, type ValidationRequest, type Validator } from './validator.js';

export const ACME_TLS_ALPN = 'acme-tls/1';
/** id-pe-acmeIdentifier (RFC 8737 §6.1). */
export const OID_ACME_IDENTIFIER = '1.3.6.1.5.5.7.1.31';

export interface TlsAlpn01Options {
  port: number;
  resolver: AddressLookup;
}

export class TlsAlpn01Validator implements Validator {
  readonly type = 'tls-alpn-01';

  constructor(private readonly o: TlsAlpn01Options) {}

  supports(_identifier: Identifier, wildcard: boolean): boolean {
    return !wildcard;
  }

  async validate(req: ValidationRequest): Promise<ValidationRecord[]> {
    const { identifier } = req;
    const isIpIdentifier = identifier.type === 'ip';
    const record: ValidationRecord = { hostname: identifier.value, port: this.o.port };
    try {
      const addresses = isIpIdentifier ? [identifier.value] : await this.o.resolver.addresses(identifier.value);
      record.addressesResolved = addresses;
      const servername = isIpIdentifier ? reverseName(identifier.value) : identifier.value;
      let lastError: AcmeProblem | undefined;
      for (const address of addresses) {
        record.addressUsed = address;
        try {
          const der = await handshake(address, this.o.port, servername, req.signal);
          checkCertificate(der, identifier, req.keyAuthorization);
          return [record];
        } catch (e) {
          if (!(e instanceof AcmeProblem) || e.type !== 'connection' || req.signal.aborted) throw e;
          lastError = e;
        }
      }
      throw lastError ?? problems.connection('no address to connect to');
    } catch (e) {
      if (e instanceof AcmeProblem) throw new ValidationFailure(e, [record]);
      throw new ValidationFailure(problems.tls(`tls-alpn-01 validation of ${identifier.value} failed`), [record]);
    }
  }
}

/** RFC 8738 §6: the SNI for an IP identifier is its reverse-mapping name. */
function reverseName(ip: string): string {
  if (isIP(ip) === 4) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  // canonicalIp gives pure hex groups (embedded IPv4 is rewritten by the URL parser).
  const canonical = canonicalIp(ip) ?? ip;
  const [head = '', tail] = canonical.split('::');
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = [...h, ...Array(tail === undefined ? 0 : 8 - h.length - t.length).fill('0'), ...t];
  const nibbles = groups.map((g) => g.padStart(4, '0')).join('');
  return `${nibbles.split('').reverse().join('.')}.ip6.arpa`;
}

function handshake(address: string, port: number, servername: string, signal: AbortSignal): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let socket: TLSSocket | undefined;
    const abort = () => {
      socket?.destroy();
      reject(problems.connection(`timeout during TLS handshake with ${address}:${port}`));
    };
    if (signal.aborted) return abort();
    signal.addEventListener('abort', abort, { once: true });
    socket = connect({
      host: address,
      port,
      servername: isIP(servername) ? undefined : servername,
      ALPNProtocols: [ACME_TLS_ALPN],
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    });
    socket.once('secureConnect', () => {
      signal.removeEventListener('abort', abort);
      const s = socket!;
      const protocol = s.alpnProtocol;
      const cert = s.getPeerX509Certificate();
      s.destroy();
      if (protocol !== ACME_TLS_ALPN) return reject(problems.tls(`server did not negotiate ALPN ${ACME_TLS_ALPN} (got ${protocol || 'none'})`));
      if (!cert) return reject(problems.tls('server presented no certificate'));
      resolve(new Uint8Array(cert.raw));
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      signal.removeEventListener('abort', abort);
      const code = e.code ?? '';
      if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EHOSTUNREACH' || code === 'ETIMEDOUT') {
        reject(problems.connection(`cannot connect to ${address}:${port}: ${code}`));
      } else {
        reject(problems.tls(`TLS handshake with ${address}:${port} failed: ${code || e.message}`));
      }
    });
  });
}

/** RFC 8737 §3: exactly one SAN equal to the identifier, and the critical acmeIdentifier. */
function checkCertificate(der: Uint8Array, identifier: Identifier, keyAuthorization: string): void {
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer, Certificate);
  } catch {
    throw problems.tls('the presented certificate cannot be parsed');
  }
  const extensions = cert.tbsCertificate.extensions ?? [];
  const san = extensions.find((e) => e.extnID === id_ce_subjectAltName);
  if (!san) throw problems.unauthorized('the challenge certificate has no subjectAltName');
  const names = AsnConvert.parse(san.extnValue.buffer, GeneralNames);
  const wanted = identifier.type === 'ip' ? canonicalIp(identifier.value) : identifier.value;
  const presented = names.map((n) => (n.dNSName !== undefined ? n.dNSName.toLowerCase() : n.iPAddress !== undefined ? canonicalIp(n.iPAddress) : '?'));
  if (presented.length !== 1 || presented[0] !== wanted) {
    throw problems.unauthorized(`the challenge certificate must name exactly ${wanted} (it names ${presented.join(', ') || 'nothing'})`);
  }
  const acme = extensions.find((e) => e.extnID === OID_ACME_IDENTIFIER);
  if (!acme) throw problems.incorrectResponse('the challenge certificate has no acmeIdentifier extension');
  if (!acme.critical) throw problems.incorrectResponse('the acmeIdentifier extension must be critical');
  let value: OctetString;
  try {
    value = AsnConvert.parse(acme.extnValue.buffer, OctetString);
  } catch {
    throw problems.incorrectResponse('the acmeIdentifier extension is not an OCTET STRING');
  }
  const expected = createHash('sha256').update(keyAuthorization).digest();
  if (!Buffer.from(value.buffer).equals(expected)) throw problems.incorrectResponse('the acmeIdentifier does not match the key authorization');
}
