/**
 * Key and signature algorithms the CA understands, as X.509 AlgorithmIdentifiers and as node
 * crypto parameters. OIDs are spelled out here (RFC 5758, RFC 4055, RFC 8410) rather than taken
 * from schema packages' constant tables, so a typo there cannot change what we sign with.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';

const DER_NULL = new Uint8Array([0x05, 0x00]).buffer;

export const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ed25519: '1.3.101.112',
  p256: '1.2.840.10045.3.1.7',
  p384: '1.3.132.0.34',
  p521: '1.3.132.0.35',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  ecdsaWithSHA384: '1.2.840.10045.4.3.3',
  ecdsaWithSHA512: '1.2.840.10045.4.3.4',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  sha384WithRSAEncryption: '1.2.840.113549.1.1.12',
  sha512WithRSAEncryption: '1.2.840.113549.1.1.13',
} as const;

/** Key types a certificate subject (or issuer) may have, in profile vocabulary. */
export type KeyType = 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | `rsa${number}` | 'ed25519';

export const ALL_LEAF_KEY_TYPES = ['ecdsa-p256', 'ecdsa-p384', 'rsa2048', 'rsa3072', 'rsa4096', 'ed25519'] as const;

/** Describes a public key in profile vocabulary, e.g. `ecdsa-p256`, `rsa2048`, `ed25519`. */
export function keyTypeOf(key: KeyObject): KeyType | undefined {
  const d = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'ec':
      if (d?.namedCurve === 'prime256v1') return 'ecdsa-p256';
      if (d?.namedCurve === 'secp384r1') return 'ecdsa-p384';
      if (d?.namedCurve === 'secp521r1') return 'ecdsa-p521';
      return undefined;
    case 'rsa':
      return d?.modulusLength ? `rsa${d.modulusLength}` : undefined;
    case 'ed25519':
      return 'ed25519';
    default:
      return undefined;
  }
}

/** How an issuer key signs: the X.509 signature AlgorithmIdentifier and node's digest name. */
export interface SignatureScheme {
  oid: string;
  /** Digest for crypto.sign, or null for Ed25519 (pure EdDSA). */
  digest: 'sha256' | 'sha384' | 'sha512' | null;
  identifier(): AlgorithmIdentifier;
  /** The AlgorithmIdentifier's DER, encoded once: what every signed structure carries. */
  readonly identifierDer: Uint8Array;
}

function scheme(oid: string, digest: SignatureScheme['digest'], withNullParams: boolean): SignatureScheme {
  const identifier = (): AlgorithmIdentifier => new AlgorithmIdentifier(withNullParams ? { algorithm: oid, parameters: DER_NULL } : { algorithm: oid });
  return { oid, digest, identifier, identifierDer: new Uint8Array(AsnConvert.serialize(identifier())) };
}

const schemes = new Map<KeyType, SignatureScheme>();

/** The signature scheme an issuer with this key type signs with. */
export function signatureSchemeFor(keyType: KeyType): SignatureScheme {
  let s = schemes.get(keyType);
  if (!s) schemes.set(keyType, (s = newSchemeFor(keyType)));
  return s;
}

function newSchemeFor(keyType: KeyType): SignatureScheme {
  switch (keyType) {
    case 'ecdsa-p256':
      return scheme(OID.ecdsaWithSHA256, 'sha256', false);
    case 'ecdsa-p384':
      return scheme(OID.ecdsaWithSHA384, 'sha384', false);
    case 'ecdsa-p521':
      return scheme(OID.ecdsaWithSHA512, 'sha512', false);
    case 'ed25519':
      return scheme(OID.ed25519, null, false);
    default:
      return scheme(OID.sha256WithRSAEncryption, 'sha256', true);
  }
}

/** Verification parameters for a signature algorithm OID found in a CSR; undefined = unsupported. */
export function verifyParamsFor(oid: string): { digest: string | null } | undefined {
  switch (oid) {
    case OID.ecdsaWithSHA256:
    case OID.sha256WithRSAEncryption:
      return { digest: 'sha256' };
    case OID.ecdsaWithSHA384:
    case OID.sha384WithRSAEncryption:
      return { digest: 'sha384' };
    case OID.ecdsaWithSHA512:
    case OID.sha512WithRSAEncryption:
      return { digest: 'sha512' };
    case OID.ed25519:
      return { digest: null };
    default:
      return undefined;
  }
}

export const sha256Hex = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
