/**
 * TLS peers for tls-alpn-01 tests (RFC 8737): a responder that negotiates `acme-tls/1` and
 * presents, per SNI name, a self-signed certificate the test describes (right or wrong
 * acmeIdentifier, extension missing, extra SANs), and a plain TLS server that knows nothing of
 * ACME. Certificates are made with @peculiar/x509; keys never leave the test process.
 */
// @peculiar/x509 2.x needs a Reflect metadata polyfill loaded before it (its README).
import 'reflect-metadata';
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as never);

/** id-pe-acmeIdentifier (RFC 8737 §6.1). */
export const OID_ACME_IDENTIFIER = '1.3.6.1.5.5.7.1.31';

export interface ChallengeCertSpec {
  /** SAN dNSNames (default: exactly the SNI name, unless `ips` is given). */
  sans?: string[];
  /** SAN iPAddresses, for IP identifiers (RFC 8738 §6). */
  ips?: string[];
  /** Key authorization whose SHA-256 goes into acmeIdentifier; null leaves the extension out. */
  keyAuthorization: string | null;
  /** Mark acmeIdentifier critical (RFC 8737 §3 requires it); default true. */
  critical?: boolean;
}

export interface TlsPem {
  cert: string;
  key: string;
}

/** A self-signed P-256 certificate for `sans`, optionally with an acmeIdentifier extension. */
export async function makeCertificate(sans: string[], acmeIdentifier?: { digest: Buffer; critical: boolean }, ips: string[] = []): Promise<TlsPem> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const names = [...sans.map((value) => ({ type: 'dns' as const, value })), ...ips.map((value) => ({ type: 'ip' as const, value }))];
  const extensions: x509.Extension[] = [new x509.SubjectAlternativeNameExtension(names)];
  if (acmeIdentifier) {
    // extnValue is the DER of OCTET STRING (SIZE (32)) holding SHA-256(key authorization).
    const der = Buffer.concat([Buffer.from([0x04, acmeIdentifier.digest.length]), acmeIdentifier.digest]);
    extensions.push(new x509.Extension(OID_ACME_IDENTIFIER, acmeIdentifier.critical, der));
  }
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: `01${randomBytes(8).toString('hex')}`,
    name: `CN=${sans[0] ?? ips[0] ?? 'tls-alpn-01 test'}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys: keys as never,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`;
  return { cert: cert.toString('pem'), key };
}

export interface TlsAlpnResponder {
  port: number;
  /** Serve this certificate for SNI `name` (replacing an earlier one). */
  set(name: string, spec: ChallengeCertSpec): Promise<void>;
  /** SNI names that reached the server, with the ALPN protocols the client offered. */
  handshakes: { servername: string; alpn: string[] }[];
  close(): Promise<void>;
}

/** A tls-alpn-01 responder on host:port: ALPN `acme-tls/1` only, a certificate per SNI name. */
export async function startTlsAlpnResponder(host: string, port: number): Promise<TlsAlpnResponder> {
  const contexts = new Map<string, tls.SecureContext>();
  const handshakes: TlsAlpnResponder['handshakes'] = [];
  const fallback = await makeCertificate(['unknown.invalid']);
  const server = tls.createServer({
    ...fallback,
    ALPNCallback: ({ servername, protocols }) => {
      handshakes.push({ servername, alpn: protocols });
      return protocols.includes('acme-tls/1') ? 'acme-tls/1' : undefined;
    },
    SNICallback: (servername, cb) => cb(null, contexts.get(servername.toLowerCase()) ?? tls.createSecureContext(fallback)),
  });
  server.on('secureConnection', (socket) => socket.end());
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    handshakes,
    set: async (name, spec) => {
      const digest = spec.keyAuthorization === null ? undefined : createHash('sha256').update(spec.keyAuthorization).digest();
      const pem = await makeCertificate(spec.sans ?? (spec.ips ? [] : [name]), digest ? { digest, critical: spec.critical ?? true } : undefined, spec.ips ?? []);
      contexts.set(name.toLowerCase(), tls.createSecureContext(pem));
    },
    close: () => closeServer(server),
  };
}

/**
 * An ordinary TLS server (think: a web server on 443 that was never set up for ACME): a
 * certificate for `name`, and either no ALPN at all or only `http/1.1`.
 */
export async function startPlainTlsServer(host: string, port: number, name: string, alpn: string[] | undefined): Promise<{ close(): Promise<void> }> {
  const pem = await makeCertificate([name]);
  const server = tls.createServer({ ...pem, ...(alpn ? { ALPNProtocols: alpn } : {}) });
  server.on('secureConnection', (socket) => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi'));
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { close: () => closeServer(server) };
}

function closeServer(server: tls.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
