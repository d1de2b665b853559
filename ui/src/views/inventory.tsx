/** Inventory: search by name, serial, account, profile, issuer, revocation and expiry range, in pages. */
import { useState } from 'preact/hooks';
import { get, qs } from '../api.js';
import { relative, when } from '../format.js';
import { useLoad } from '../hooks.js';
import { ErrorLine } from '../widgets.js';

export interface CertificateRow {
  id: string;
  serial: string;
  issuer: string;
  account: string;
  profile: string;
  names: string[];
  notBefore: string;
  notAfter: string;
  revokedAt: string | null;
  revocationReason: number | null;
}

const FIELDS = ['name', 'serial', 'account', 'profile', 'issuer', 'revoked', 'expiresAfter', 'expiresBefore'] as const;
type Field = (typeof FIELDS)[number];

/** datetime-local value (local time) ⇄ RFC 3339. */
const toIso = (local: string) => (local ? new Date(local).toISOString() : '');
const toLocal = (iso: string) => {
  if (!iso) return '';
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

export function InventoryView({ params }: { params: URLSearchParams }) {
  const initial = Object.fromEntries(FIELDS.map((f) => [f, params.get(f) ?? ''])) as Record<Field, string>;
  if (params.get('within') === '24h') {
    initial.expiresAfter = new Date().toISOString();
    initial.expiresBefore = new Date(Date.now() + 86_400_000).toISOString();
  }
  const [form, setForm] = useState(initial);
  const [query, setQuery] = useState(initial);
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const started = useLoad(async () => {
    const t0 = performance.now();
    const page = await get<{ certificates: CertificateRow[]; next: string | null }>(`/admin/inventory${qs({ ...query, cursor, limit: 25 })}`);
    return { ...page, ms: Math.round(performance.now() - t0) };
  }, [JSON.stringify(query), cursor]);
  const set = (f: Field) => (e: Event) => setForm({ ...form, [f]: (e.target as HTMLInputElement).value });
  const search = (e: Event) => {
    e.preventDefault();
    setCursors([]);
    setQuery({ ...form });
  };
  const page = started.data;
  return (
    <section id="inventory">
      <h1>Inventory</h1>
      <form class="search" onSubmit={search}>
        <label>Name<input id="q-name" value={form.name} onInput={set('name')} placeholder="app.internal" /></label>
        <label>Serial<input id="q-serial" value={form.serial} onInput={set('serial')} placeholder="hex" /></label>
        <label>Account<input id="q-account" value={form.account} onInput={set('account')} /></label>
        <label>Profile<input id="q-profile" value={form.profile} onInput={set('profile')} /></label>
        <label>Issuer<input id="q-issuer" value={form.issuer} onInput={set('issuer')} /></label>
        <label>
          Revoked
          <select id="q-revoked" value={form.revoked} onChange={set('revoked')}>
            <option value="">any</option>
            <option value="false">not revoked</option>
            <option value="true">revoked</option>
          </select>
        </label>
        <label>Expires after<input id="q-after" type="datetime-local" value={toLocal(form.expiresAfter)} onInput={(e) => setForm({ ...form, expiresAfter: toIso((e.target as HTMLInputElement).value) })} /></label>
        <label>Expires before<input id="q-before" type="datetime-local" value={toLocal(form.expiresBefore)} onInput={(e) => setForm({ ...form, expiresBefore: toIso((e.target as HTMLInputElement).value) })} /></label>
        <button type="submit" id="search">Search</button>
      </form>
      <ErrorLine error={started.error} />
      {page && (
        <>
          <table class="list" id="results">
            <thead>
              <tr><th>serial</th><th>names</th><th>profile</th><th>issuer</th><th>expires</th><th>state</th></tr>
            </thead>
            <tbody>
              {page.certificates.map((c) => (
                <tr data-serial={c.serial}>
                  <td class="mono"><a href={`#/cert/${c.serial}`}>{c.serial.slice(0, 16)}…</a></td>
                  <td>{c.names.join(', ')}</td>
                  <td>{c.profile}</td>
                  <td>{c.issuer}</td>
                  <td title={when(c.notAfter)}>{relative(c.notAfter)}</td>
                  <td>{c.revokedAt ? <span class="bad">revoked</span> : new Date(c.notAfter).getTime() < Date.now() ? <span class="muted">expired</span> : <span class="good">valid</span>}</td>
                </tr>
              ))}
              {page.certificates.length === 0 && (
                <tr><td colSpan={6}>No certificate matches.</td></tr>
              )}
            </tbody>
          </table>
          <p class="pager">
            <button disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>Previous</button>
            <span>page {cursors.length + 1}</span>
            <button id="next-page" disabled={!page.next} onClick={() => page.next && setCursors([...cursors, page.next])}>Next</button>
            <span class="muted" id="search-ms">{page.ms} ms</span>
          </p>
        </>
      )}
    </section>
  );
}
