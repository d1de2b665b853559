/**
 * A deliberately low-level ACME client for tests: it signs exactly what the test says (any
 * header, any payload, any key) so tests can send both correct and hostile requests.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { request as httpSend } from 'node:http';
import { request as httpsSend } from 'node:https';
import { FlattenedSign, calculateJwkThumbprint, type JWK } from 'jose';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Parsed JSON body, when it is JSON. */
  json: any;
}

export interface AccountKey {
  privateKey: KeyObject;
  jwk: JWK;
  alg: string;
}

export function newAccountKey(kind: 'ES256' | 'ES384' | 'RS256' | 'EdDSA' = 'ES256'): AccountKey {
  const pair =
    kind === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : kind === 'ES384'
        ? generateKeyPairSync('ec', { namedCurve: 'P-384' })
        : kind === 'EdDSA'
          ? generateKeyPairSync('ed25519')
          : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKey: pair.privateKey, jwk: pair.publicKey.export({ format: 'jwk' }) as JWK, alg: kind };
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Trust anchor for https URLs. */
  ca?: string;
  timeoutMs?: number;
}

/** One request on its own connection (http or https by the URL), the body read whole and parsed when JSON. */
export function sendRequest(url: string, options: RequestOptions = {}): Promise<HttpResponse> {
  const send = url.startsWith('https:') ? httpsSend : httpSend;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: options.method ?? 'GET', headers: options.headers, ca: options.ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = body ? JSON.parse(body) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(options.timeoutMs ?? 15_000, () => req.destroy(new Error(`timeout: ${options.method ?? 'GET'} ${url}`)));
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export function httpsRequest(url: string, options: RequestOptions & { ca: string }): Promise<HttpResponse> {
  return sendRequest(url, options);
}

export interface SignOptions {
  /** Sign with `jwk` (default when no kid is known) or with this kid. */
  kid?: string;
  useJwk?: boolean;
  nonce?: string | null;
  url?: string | null;
  /** Extra or overriding protected header members. */
  header?: Record<string, unknown>;
  key?: AccountKey;
}

export class RawAcme {
  directory: Record<string, any> = {};
  kid: string | undefined;

  constructor(
    readonly directoryUrl: string,
    readonly ca: string,
    public key: AccountKey = newAccountKey(),
  ) {}

  async init(): Promise<this> {
    const res = await httpsRequest(this.directoryUrl, { ca: this.ca });
    this.directory = res.json;
    return this;
  }

  async nonce(): Promise<string> {
    const res = await httpsRequest(this.directory.newNonce, { method: 'HEAD', ca: this.ca });
    return String(res.headers['replay-nonce']);
  }

  thumbprint(key = this.key): Promise<string> {
    return calculateJwkThumbprint(key.jwk, 'sha256');
  }

  /** A flattened JWS over `payload` (undefined → POST-as-GET's empty payload). */
  async sign(url: string, payload: unknown, o: SignOptions = {}): Promise<Record<string, string>> {
    const key = o.key ?? this.key;
    const header: Record<string, unknown> = { alg: key.alg };
    const nonce = o.nonce === undefined ? await this.nonce() : o.nonce;
    if (nonce !== null) header.nonce = nonce;
    const u = o.url === undefined ? url : o.url;
    if (u !== null) header.url = u;
    const kid = o.kid ?? (o.useJwk ? undefined : this.kid);
    if (kid) header.kid = kid;
    else header.jwk = key.jwk;
    Object.assign(header, o.header ?? {});
    for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k];
    const bytes = payload === undefined ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(payload));
    const jws = await new FlattenedSign(bytes).setProtectedHeader(header as never).sign(key.privateKey);
    return jws as unknown as Record<string, string>;
  }

  async post(url: string, payload: unknown, o: SignOptions & { contentType?: string } = {}): Promise<HttpResponse> {
    const jws = await this.sign(url, payload, o);
    return this.postRaw(url, JSON.stringify(jws), o.contentType);
  }

  postRaw(url: string, body: string | Buffer, contentType = 'application/jose+json'): Promise<HttpResponse> {
    return httpsRequest(url, { method: 'POST', headers: { 'Content-Type': contentType }, body, ca: this.ca });
  }

  /** newAccount with termsOfServiceAgreed; remembers the kid. */
  async register(payload: Record<string, unknown> = { termsOfServiceAgreed: true }): Promise<HttpResponse> {
    const res = await this.post(this.directory.newAccount, payload, { useJwk: true });
    if (res.status === 201 || res.status === 200) this.kid = String(res.headers.location);
    return res;
  }
}
