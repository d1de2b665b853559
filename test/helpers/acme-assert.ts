/**
 * Assertions shared by the integration tests: the headers RFC 8555 puts on every response
 * (Replay-Nonce §6.5, Link rel="index" §7.1) and problem documents (§6.7, RFC 7807).
 */
import assert from 'node:assert/strict';
import type { HttpResponse } from './raw-acme.js';

export const ACME_ERROR = 'urn:ietf:params:acme:error:';

/** The value of a single-valued header as a string ('' when absent). */
export function header(res: HttpResponse, name: string): string {
  const value = res.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

/** The media type of a response without parameters (`application/json; charset=utf-8` → `application/json`). */
export function mediaType(res: HttpResponse): string {
  return header(res, 'content-type').split(';')[0]!.trim().toLowerCase();
}

/** Every `<url>;rel="x"` of the Link header(s), as [url, rel] pairs. */
export function linkValues(res: HttpResponse): { url: string; rel: string }[] {
  const raw = res.headers.link;
  const values = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  const out: { url: string; rel: string }[] = [];
  for (const value of values) {
    for (const m of value.matchAll(/<([^>]*)>\s*;\s*rel="?([^",;]+)"?/g)) out.push({ url: m[1]!, rel: m[2]! });
  }
  return out;
}

/** The URLs of the Link header entries with this relation. */
export function links(res: HttpResponse, rel: string): string[] {
  return linkValues(res)
    .filter((l) => l.rel === rel)
    .map((l) => l.url);
}

/** §6.5 and §7.1: a fresh base64url Replay-Nonce and `Link: <directory>;rel="index"`. */
export function assertAcmeHeaders(res: HttpResponse, directoryUrl: string): void {
  const nonce = header(res, 'replay-nonce');
  assert.match(nonce, /^[A-Za-z0-9_-]{16,}$/, `Replay-Nonce missing or not base64url (status ${res.status}): ${JSON.stringify(nonce)}`);
  assert.ok(links(res, 'index').includes(directoryUrl), `Link rel="index" to ${directoryUrl} missing: ${header(res, 'link')}`);
}

/** A successful response: exact status plus the headers every ACME response carries. */
export function assertOk(res: HttpResponse, status: number, directoryUrl: string): void {
  assert.equal(res.status, status, `expected HTTP ${status}, got ${res.status}: ${res.body}`);
  assertAcmeHeaders(res, directoryUrl);
}

/**
 * A problem document (§6.7): exact status, exact `urn:ietf:params:acme:error:<type>`, media type
 * application/problem+json, a `status` member equal to the HTTP status, and the ACME headers.
 * Returns the parsed document for further checks.
 */
export function assertProblem(res: HttpResponse, status: number, type: string, directoryUrl: string): any {
  assert.equal(res.status, status, `expected HTTP ${status} ${type}, got ${res.status}: ${res.body}`);
  assert.equal(mediaType(res), 'application/problem+json', `problem media type: ${header(res, 'content-type')}`);
  assert.ok(res.json && typeof res.json === 'object', `problem body is not JSON: ${res.body}`);
  assert.equal(res.json.type, ACME_ERROR + type, `problem type (detail: ${res.json.detail})`);
  assert.equal(typeof res.json.detail, 'string', 'problem detail is a string');
  if (res.json.status !== undefined) assert.equal(res.json.status, status, 'problem "status" member equals the HTTP status');
  assertAcmeHeaders(res, directoryUrl);
  return res.json;
}
