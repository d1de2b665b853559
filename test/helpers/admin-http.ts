/**
 * The admin listener as tests see it (README "Operations"): plain-HTTP requests to /metrics,
 * /healthz, /readyz and the bearer-token admin API, and admin tokens made and revoked with the
 * real `anvil admin-token` command against a server's data directory.
 */
import http from 'node:http';
import { anvilCli } from './eab.js';
import { sendRequest } from './raw-acme.js';
import { describeRun } from '../interop/harness.js';

export interface PlainResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The parsed body when it is JSON. */
  json: any;
}

export interface PlainRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

/** One plain-HTTP request on its own connection. */
export function plainRequest(url: string, o: PlainRequestOptions = {}): Promise<PlainResponse> {
  return sendRequest(url, o);
}

/** An admin API call with `Authorization: Bearer <token>` (no header when token is undefined); JSON body when given. */
export function adminCall(adminUrl: string, token: string | undefined, method: string, path: string, body?: unknown): Promise<PlainResponse> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return plainRequest(`${adminUrl}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
}

export interface AdminTokenCreated {
  /** The bearer token, shown once. */
  token: string;
  /** The token id (`anvil_<id>.<secret>`), for `admin-token revoke --id`. */
  id: string;
}

/** `anvil admin-token create --role <role> --name <name> --data-dir <dir>`; the token is the one stdout line. */
export async function createAdminToken(dataDir: string, role: string, name: string, env: Record<string, string> = {}): Promise<AdminTokenCreated> {
  const result = await anvilCli(['admin-token', 'create', '--role', role, '--name', name, '--data-dir', dataDir], env);
  if (result.code !== 0) throw new Error(`anvil admin-token create failed\n${describeRun(result)}`);
  const token = result.stdout.trim();
  const id = /^anvil_([0-9a-f]+)\./.exec(token)?.[1];
  if (!id) throw new Error(`anvil admin-token create printed no anvil_<id>.<secret> token\n${describeRun(result)}`);
  return { token, id };
}

/** `anvil admin-token revoke --id <id> --data-dir <dir>`. */
export async function revokeAdminToken(dataDir: string, id: string, env: Record<string, string> = {}): Promise<void> {
  const result = await anvilCli(['admin-token', 'revoke', '--id', id, '--data-dir', dataDir], env);
  if (result.code !== 0) throw new Error(`anvil admin-token revoke failed\n${describeRun(result)}`);
}

export interface ReadyCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

/** GET /readyz, with its checks. */
export async function readyz(adminUrl: string): Promise<{ status: number; body: { status: string; checks: ReadyCheck[] } | undefined; raw: string }> {
  const res = await plainRequest(`${adminUrl}/readyz`);
  return { status: res.status, body: res.json, raw: res.body };
}

/** Polls /readyz until it answers `status` (bounded); returns the last answer, which the caller asserts on. */
export async function waitReadyz(adminUrl: string, status: number, timeoutMs: number): Promise<Awaited<ReturnType<typeof readyz>> & { waitedMs: number }> {
  const started = Date.now();
  for (;;) {
    const r = await readyz(adminUrl);
    if (r.status === status || Date.now() - started > timeoutMs) return { ...r, waitedMs: Date.now() - started };
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
