/**
 * The signer interface: everything the CA signs (certificates, and later CRLs and OCSP
 * responses) goes through it, so a key can live in a file, an HSM or a cloud KMS. Signers
 * register by kind; adding one never edits a switch.
 */
import { sign as nodeSign, type KeyObject } from 'node:crypto';
import { keyTypeOf, signatureSchemeFor, type KeyType, type SignatureScheme } from './algorithms.js';

export interface Signer {
  /** Which key store holds the key, e.g. `file` or `pkcs11`. */
  readonly kind: string;
  readonly keyType: KeyType;
  readonly scheme: SignatureScheme;
  /** Signs `data` and returns the signature as X.509 carries it (DER for ECDSA). */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** A signer over a private key held in process memory (decrypted from an encrypted file at start). */
export class KeyObjectSigner implements Signer {
  readonly kind = 'file';
  readonly keyType: KeyType;
  readonly scheme: SignatureScheme;

  constructor(private readonly key: KeyObject) {
    const keyType = keyTypeOf(key);
    if (!keyType) throw new Error(`unsupported issuer key type ${key.asymmetricKeyType}`);
    this.keyType = keyType;
    this.scheme = signatureSchemeFor(keyType);
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    return nodeSign(this.scheme.digest, data, { key: this.key, dsaEncoding: 'der' });
  }
}
