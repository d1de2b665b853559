/** The dashboard's calls: same-origin fetches carrying the session cookie, and the CSRF token on writes. */

export interface Me {
  name: string;
  role: 'auditor' | 'operator' | 'ca-admin';
  permissions: string[];
  csrf: string;
  expiresAt: string;
}

/** An admin API refusal, with its status and the server's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let csrf = '';
let onSignedOut: () => void = () => undefined;

export function setSession(me: Me | null, signedOut?: () => void): void {
  csrf = me?.csrf ?? '';
  if (signedOut) onSignedOut = signedOut;
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  const json = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    if (res.status === 401 && !path.startsWith('/ui/api/session')) onSignedOut();
    throw new ApiError(res.status, (json as { error?: string } | undefined)?.error ?? `HTTP ${res.status}`);
  }
  return json as T;
}

export const get = <T>(path: string) => call<T>('GET', path);

/** A query string from the defined, non-empty values. */
export function qs(values: Record<string, string | number | boolean | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export const can = (me: Me, permission: string) => me.permissions.includes(permission);
