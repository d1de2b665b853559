/**
 * CA keys in a PKCS#11 token (an HSM; SoftHSM2 in tests) through pkcs11js. Keys are generated on
 * the token as sensitive and non-extractable, so they never leave it; signing runs with
 * C_SignAsync on libuv's thread pool, one operation at a time per session (PKCS#11 sessions are
 * not re-entrant), so a slow token never blocks the event loop and a caller can time out. Signing
 * takes a session from a small pool: a call the token never answers pins only its own session, so
 * the signer guard's trial after a cooldown gets a fresh one instead of queueing behind it. After
 * a failed signature the library is re-initialised before the next one (finalize, initialize,
 * login, find the key again): a token that went away and came back (a restarted HSM, a remounted
 * SoftHSM directory) answers only on a fresh connection.
 */
import { createHash } from 'node:crypto';
import { AsnConvert, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from '@peculiar/asn1-schema';
import { ECDSASigValue } from '@peculiar/asn1-ecc';
import { AlgorithmIdentifier, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import pkcs11js from 'pkcs11js';
import { OID, signatureSchemeFor, type KeyType, type SignatureScheme } from './algorithms.js';
import { toArrayBuffer } from './certificate-builder.js';
import type { Signer } from './signer.js';

export interface Pkcs11Settings {
  module: string;
  tokenLabel: string;
  pin: string;
}

/** Where a key lives on the token: its CKA_LABEL and CKA_ID. */
export interface Pkcs11KeyRef {
  label: string;
  id: string;
}

const CURVES: Record<string, { oid: string; digest: 'sha256' | 'sha384'; size: number }> = {
  'ecdsa-p256': { oid: OID.p256, digest: 'sha256', size: 32 },
  'ecdsa-p384': { oid: OID.p384, digest: 'sha384', size: 48 },
};

/** Enough for a few concurrent signatures and a few hung ones; tokens limit sessions per application. */
const MAX_SIGNING_SESSIONS = 4;

/** One login per token, shared by every key on it. */
export class Pkcs11Token {
  private readonly lib = new pkcs11js.PKCS11();
  private slot!: Buffer;
  /** Management session (generate, find, destroy); signing uses its own sessions so a reload never meets an active operation. */
  private session!: Buffer;
  private idleSessions: Buffer[] = [];
  private signingSessions = 0;
  private readonly waiting: ((session: Buffer) => void)[] = [];
  /** Grows with every (re)connection; key handles and sessions from an older one are stale. */
  private generation = 0;
  private broken = false;

  constructor(readonly settings: Pkcs11Settings) {
    this.lib.load(settings.module);
    this.connect();
  }

  private connect(): void {
    this.lib.C_Initialize();
    const slot = this.lib.C_GetSlotList(true).find((s) => this.lib.C_GetTokenInfo(s).label.trim() === this.settings.tokenLabel);
    if (!slot) throw new Error(`no PKCS#11 token labelled ${JSON.stringify(this.settings.tokenLabel)} in ${this.settings.module}`);
    this.slot = slot;
    this.session = this.lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      this.lib.C_Login(this.session, pkcs11js.CKU_USER, this.settings.pin);
    } catch (e) {
      if (!String((e as Error).message).includes('CKR_USER_ALREADY_LOGGED_IN')) throw new Error('PKCS#11 login failed (check the PIN)');
    }
    this.generation++;
  }

  /** Drops every session and handle and connects again; throws (staying broken) while the token is still away. */
  private reconnect(): void {
    try {
      this.lib.C_Finalize();
    } catch {
      // already finalized, or the library lost the token: initialising again is what matters
    }
    this.idleSessions = [];
    this.signingSessions = 0;
    this.connect();
    this.broken = false;
    for (const waiter of this.waiting.splice(0)) void this.acquireSession().then(waiter, () => this.waiting.push(waiter));
  }

  /** Generates a non-extractable EC key pair on the token; returns its reference and SPKI. */
  generate(keyType: KeyType, label: string): { ref: Pkcs11KeyRef; spkiDer: Uint8Array } {
    const curve = CURVES[keyType];
    if (!curve) throw new Error(`PKCS#11 keys of type ${keyType} are not supported (use ecdsa-p256 or ecdsa-p384)`);
    const id = createHash('sha256').update(label).update(String(Date.now())).digest().subarray(0, 16);
    const params = Buffer.from(AsnConvert.serialize(new ObjectIdentifierParam(curve.oid)));
    const keys = this.lib.C_GenerateKeyPair(
      this.session,
      { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_VERIFY, value: true },
        { type: pkcs11js.CKA_EC_PARAMS, value: params },
        { type: pkcs11js.CKA_LABEL, value: label },
        { type: pkcs11js.CKA_ID, value: id },
      ],
      [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        { type: pkcs11js.CKA_LABEL, value: label },
        { type: pkcs11js.CKA_ID, value: id },
      ],
    );
    return { ref: { label, id: id.toString('hex') }, spkiDer: this.spkiOf(keys.publicKey, curve.oid) };
  }

  /** A signer for a key already on the token, with its SPKI (to check against the certificate). */
  signer(ref: Pkcs11KeyRef, keyType: KeyType): { signer: Signer; spkiDer: Uint8Array } {
    const curve = CURVES[keyType];
    if (!curve) throw new Error(`PKCS#11 keys of type ${keyType} are not supported`);
    let privateKey = { handle: this.find(pkcs11js.CKO_PRIVATE_KEY, ref), generation: this.generation };
    const publicKey = this.find(pkcs11js.CKO_PUBLIC_KEY, ref);
    const scheme: SignatureScheme = signatureSchemeFor(keyType);
    const currentHandle = (): Buffer => {
      if (privateKey.generation !== this.generation) privateKey = { handle: this.find(pkcs11js.CKO_PRIVATE_KEY, ref), generation: this.generation };
      return privateKey.handle;
    };
    return {
      spkiDer: this.spkiOf(publicKey, curve.oid),
      signer: {
        kind: 'pkcs11',
        keyType,
        scheme,
        sign: (data: Uint8Array) => this.signDigest(currentHandle, createHash(curve.digest).update(data).digest(), curve.size),
      },
    };
  }

  /** Marks a key for destruction: PKCS#11 deletion of the private key object (C_DestroyObject). */
  destroy(ref: Pkcs11KeyRef): void {
    this.lib.C_DestroyObject(this.session, this.find(pkcs11js.CKO_PRIVATE_KEY, ref));
  }

  close(): void {
    try {
      this.lib.C_Logout(this.session);
      this.lib.C_CloseSession(this.session);
      this.lib.C_Finalize();
    } catch {
      // closing is best effort
    }
  }

  private async signDigest(key: () => Buffer, digest: Buffer, size: number): Promise<Uint8Array> {
    if (this.broken) this.reconnect();
    const session = await this.acquireSession();
    const generation = this.generation;
    let failed = false;
    try {
      // Debian's SoftHSM2 2.6 lacks CKM_ECDSA_SHA256: sign the digest with CKM_ECDSA and DER-encode r||s.
      this.lib.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, key());
      const raw = await this.lib.C_SignAsync(session, digest, Buffer.alloc(size * 2));
      return rawToDer(raw, size);
    } catch (e) {
      failed = true;
      if (generation === this.generation) this.broken = true;
      throw e;
    } finally {
      // A session from before a reconnection is gone with it; a failed one is not trusted again.
      if (generation === this.generation && !failed) this.releaseSession(session);
      else if (generation === this.generation) this.replaceSession(session);
    }
  }

  private replaceSession(session: Buffer): void {
    try {
      this.lib.C_CloseSession(session);
    } catch {
      // the token may be gone; the session is dropped either way
    }
    this.signingSessions--;
    const next = this.waiting.shift();
    if (next) void this.acquireSession().then(next, () => this.waiting.unshift(next));
  }

  /** An idle signing session, a new one while fewer than MAX_SIGNING_SESSIONS exist, or the next released. */
  private async acquireSession(): Promise<Buffer> {
    const idle = this.idleSessions.pop();
    if (idle) return idle;
    if (this.signingSessions < MAX_SIGNING_SESSIONS) {
      // Sessions opened after C_Login share the token's logged-in state (PKCS#11 v2.40 §5.6).
      const session = this.lib.C_OpenSession(this.slot, pkcs11js.CKF_SERIAL_SESSION);
      this.signingSessions++;
      return session;
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private releaseSession(session: Buffer): void {
    const next = this.waiting.shift();
    if (next) next(session);
    else this.idleSessions.push(session);
  }

  private find(cls: number, ref: Pkcs11KeyRef): Buffer {
    this.lib.C_FindObjectsInit(this.session, [
      { type: pkcs11js.CKA_CLASS, value: cls },
      { type: pkcs11js.CKA_LABEL, value: ref.label },
      { type: pkcs11js.CKA_ID, value: Buffer.from(ref.id, 'hex') },
    ]);
    const handle = this.lib.C_FindObjects(this.session);
    this.lib.C_FindObjectsFinal(this.session);
    if (!handle) throw new Error(`PKCS#11 key ${ref.label} (${ref.id}) not found on token ${this.settings.tokenLabel}`);
    return handle;
  }

  private spkiOf(publicKey: Buffer, curveOid: string): Uint8Array {
    const [attr] = this.lib.C_GetAttributeValue(this.session, publicKey, [{ type: pkcs11js.CKA_EC_POINT }]);
    // CKA_EC_POINT is the DER OCTET STRING of the uncompressed point (PKCS#11 v2.40 §2.3.3).
    const point = AsnConvert.parse(toArrayBuffer(new Uint8Array(attr!.value as Buffer)), OctetString);
    const spki = new SubjectPublicKeyInfo({
      algorithm: new AlgorithmIdentifier({ algorithm: OID.ecPublicKey, parameters: AsnConvert.serialize(new ObjectIdentifierParam(curveOid)) }),
      subjectPublicKey: point.buffer,
    });
    return new Uint8Array(AsnConvert.serialize(spki));
  }
}

/** An OBJECT IDENTIFIER value (for CKA_EC_PARAMS and the SPKI curve parameter). */
class ObjectIdentifierParam {
  value: string;
  constructor(value = '') {
    this.value = value;
  }
}
AsnProp({ type: AsnPropTypes.ObjectIdentifier })(ObjectIdentifierParam.prototype, 'value');
AsnType({ type: AsnTypeTypes.Choice })(ObjectIdentifierParam);

/** ECDSA r||s (fixed size) to the DER ECDSA-Sig-Value X.509 carries (RFC 3279 §2.2.3). */
function rawToDer(raw: Buffer, size: number): Uint8Array {
  const integer = (bytes: Buffer) => {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    const trimmed = bytes.subarray(i);
    return toArrayBuffer(trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
  };
  const value = new ECDSASigValue({ r: integer(raw.subarray(0, size)), s: integer(raw.subarray(size, size * 2)) });
  return new Uint8Array(AsnConvert.serialize(value));
}
