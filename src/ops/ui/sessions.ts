/**
 * Dashboard sessions without server state: the cookie carries the admin token's SHA-256 and an
 * expiry, sealed with AES-256-GCM under a key derived from the key passphrase, so every instance
 * sharing the passphrase accepts it and nobody else can read or forge one. The token is looked
 * up on every request, so revoking it ends its sessions at once.
 *
 * CSRF: each session has a random nonce; its CSRF token is an HMAC of that nonce, handed to the
 * page by the sign-in answer and required in `X-CSRF-Token` on every state-changing call.
 */
import { parse as parseCookie } from 'cookie';
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'anvil_session';
export const CSRF_HEADER = 'x-csrf-token';

export interface Session {
  /** SHA-256 (hex) of the admin token the session was opened with. */
  tokenSha256: string;
  expiresAt: Date;
  /** What the page must send back in X-CSRF-Token. */
  csrf: string;
}

export class SessionSealer {
  private readonly sealKey: Buffer;
  private readonly csrfKey: Buffer;

  constructor(
    passphrase: string,
    readonly lifetimeMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.sealKey = Buffer.from(hkdfSync('sha256', passphrase, 'anvil ui session', 'aes-256-gcm v1', 32));
    this.csrfKey = Buffer.from(hkdfSync('sha256', passphrase, 'anvil ui session', 'csrf hmac v1', 32));
  }

  /** A new session for a token: the cookie value and the session it opens. */
  open(tokenSha256: string): { cookie: string; session: Session } {
    const nonce = randomBytes(16).toString('base64url');
    const exp = this.now() + this.lifetimeMs;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.sealKey, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify({ h: tokenSha256, exp, n: nonce })), cipher.final()]);
    const cookie = Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
    return { cookie, session: { tokenSha256, expiresAt: new Date(exp), csrf: this.csrfOf(nonce) } };
  }

  /** The session a cookie carries; null when it is forged, damaged or expired. */
  read(cookie: string): Session | null {
    const raw = Buffer.from(cookie, 'base64url');
    if (raw.length < 12 + 16 + 2) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.sealKey, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      const plain = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
      const v = JSON.parse(plain) as { h?: unknown; exp?: unknown; n?: unknown };
      if (typeof v.h !== 'string' || typeof v.exp !== 'number' || typeof v.n !== 'string') return null;
      if (v.exp <= this.now()) return null;
      return { tokenSha256: v.h, expiresAt: new Date(v.exp), csrf: this.csrfOf(v.n) };
    } catch {
      return null;
    }
  }

  /** Whether a presented CSRF token is the session's (constant time). */
  csrfMatches(session: Session, presented: string | undefined): boolean {
    if (presented === undefined) return false;
    const a = Buffer.from(session.csrf);
    const b = Buffer.from(presented);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private csrfOf(nonce: string): string {
    return createHmac('sha256', this.csrfKey).update(nonce).digest('base64url');
  }
}

/** The value of one cookie in a Cookie header (parsed by the `cookie` package). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  return header ? parseCookie(header)[name] : undefined;
}
