/**
 * Delegated OCSP signing (RFC 6960 §4.2.2.2): each issuer has a responder certificate with
 * id-kp-OCSPSigning and id-pkix-ocsp-nocheck, signed by the issuer, whose key signs the responses
 * so the issuer key is not used for every refresh. It is created on first use and re-issued when
 * a third of its lifetime is left; its key is kept encrypted like every CA key.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Name, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { buildCertificate, derToPem, nameOf, randomSerial } from '../ca/certificate-builder.js';
import {
  authorityKeyIdentifier,
  basicConstraints,
  extendedKeyUsage,
  keyIdentifierOf,
  keyUsage,
  ocspNoCheck,
  subjectKeyIdentifier,
} from '../ca/extensions.js';
import type { Issuer } from '../ca/issuer.js';
import { readPair, writePair } from '../ca/key-cert-pair.js';
import { generateKey, spkiOf } from '../ca/key-files.js';
import { KeyObjectSigner, type Signer } from '../ca/signer.js';

/** How an OCSP CertID (RFC 6960 §4.1.1) identifies an issuer, per hash algorithm. */
export interface IssuerHashes {
  nameHash: Buffer;
  keyHash: Buffer;
}

export interface OcspResponder {
  issuer: Issuer;
  /** The responder certificate: every signed response carries it. */
  certDer: Uint8Array;
  signer: Signer;
  /** ResponderID byKey: SHA-1 of the responder's subjectPublicKey (RFC 6960 §4.2.1). */
  responderKeyHash: Uint8Array;
  notAfter: Date;
  /** The issuer's name and key hashes for SHA-1 and SHA-256 CertIDs. */
  issuerHashes: { sha1: IssuerHashes; sha256: IssuerHashes };
}

const BACKDATE_MS = 3_600_000;

export function issuerHashes(issuer: Issuer): { sha1: IssuerHashes; sha256: IssuerHashes } {
  const nameDer = new Uint8Array(AsnConvert.serialize(issuer.subject as Name));
  const cert = new X509Certificate(Buffer.from(issuer.certDer));
  const spki = AsnConvert.parse(cert.publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
  const keyBits = new Uint8Array(spki.subjectPublicKey);
  const hashes = (alg: string): IssuerHashes => ({
    nameHash: createHash(alg).update(nameDer).digest(),
    keyHash: createHash(alg).update(keyBits).digest(),
  });
  return { sha1: hashes('sha1'), sha256: hashes('sha256') };
}

/** Loads the issuer's responder certificate, issuing a fresh one when missing or due. */
export async function ensureOcspResponder(dataDir: string, issuer: Issuer, passphrase: string, validityMs: number): Promise<OcspResponder> {
  const dir = join(dataDir, 'ca', 'ocsp');
  const certPath = join(dir, `${issuer.id}.pem`);
  const keyPath = join(dir, `${issuer.id}.key.pem`);
  const stored = readPair(certPath, keyPath, passphrase);
  if (stored) {
    const remaining = new Date(stored.cert.validTo).getTime() - Date.now();
    if (remaining > validityMs / 3 && stored.cert.checkIssued(new X509Certificate(Buffer.from(issuer.certDer)))) {
      return responderFrom(issuer, new Uint8Array(stored.cert.raw), new KeyObjectSigner(stored.key));
    }
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = generateKey('ecdsa-p256');
  const spki = spkiOf(key);
  const now = Date.now();
  const notAfter = Math.min(now + validityMs, issuer.notAfter.getTime());
  const der = await buildCertificate({
    serial: randomSerial(),
    issuer: issuer.subject,
    subject: nameOf([['O', 'Anvil'], ['CN', `Anvil OCSP Responder ${issuer.id}`]]),
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(notAfter),
    spkiDer: spki,
    extensions: [
      basicConstraints(false),
      keyUsage(['digitalSignature']),
      extendedKeyUsage(['ocspSigning']),
      ocspNoCheck(),
      subjectKeyIdentifier(keyIdentifierOf(spki)),
      authorityKeyIdentifier(issuer.keyId),
    ],
    signer: issuer.signer,
  });
  // The old pair is only used until this process switches over; this process signs with the pair it made.
  writePair(certPath, keyPath, derToPem(der), key, passphrase);
  return responderFrom(issuer, der, new KeyObjectSigner(key));
}

function responderFrom(issuer: Issuer, certDer: Uint8Array, signer: Signer): OcspResponder {
  const cert = new X509Certificate(Buffer.from(certDer));
  const spki = new Uint8Array(cert.publicKey.export({ type: 'spki', format: 'der' }));
  return {
    issuer,
    certDer,
    signer,
    responderKeyHash: keyIdentifierOf(spki),
    notAfter: new Date(cert.validTo),
    issuerHashes: issuerHashes(issuer),
  };
}
