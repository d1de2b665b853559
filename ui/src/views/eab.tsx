/** External Account Binding credentials: list, create (the HMAC key is shown once), revoke. */
import { useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { when } from '../format.js';
import { useLoad } from '../hooks.js';
import { Confirmed, ErrorLine } from '../widgets.js';

interface Credential {
  kid: string;
  policy: { dnsSuffixes: string[]; ipRanges: string[]; profiles: string[]; preauthorize: boolean };
  note: string;
  createdAt: string;
  revokedAt: string | null;
}

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

export function EabView() {
  const creds = useLoad(() => get<Credential[]>('/admin/eab'), []);
  const [form, setForm] = useState({ dnsSuffixes: '', ipRanges: '', profiles: '', note: '' });
  const [created, setCreated] = useState<{ kid: string; hmacKey: string } | null>(null);
  const [error, setError] = useState('');
  const create = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      const r = await call<{ kid: string; hmacKey: string }>('POST', '/admin/eab', {
        dnsSuffixes: list(form.dnsSuffixes),
        ipRanges: list(form.ipRanges),
        profiles: list(form.profiles),
        note: form.note,
      });
      setCreated(r);
      creds.reload();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  return (
    <section id="eab">
      <h1>External Account Binding</h1>
      <div class="card wide">
        <h2>New credential</h2>
        <form class="search" onSubmit={create}>
          <label>DNS suffixes<input id="eab-dns" value={form.dnsSuffixes} onInput={set('dnsSuffixes')} placeholder=".team-a.internal" /></label>
          <label>IP ranges<input value={form.ipRanges} onInput={set('ipRanges')} placeholder="10.20.0.0/16" /></label>
          <label>Profiles<input value={form.profiles} onInput={set('profiles')} placeholder="default" /></label>
          <label>Note<input id="eab-note" value={form.note} onInput={set('note')} /></label>
          <button type="submit" id="eab-create">Create</button>
        </form>
        <ErrorLine error={error} />
        {created && (
          <div class="secret" id="eab-created" role="status">
            <p><strong>Shown only now.</strong> Give both to the client; the key cannot be shown again.</p>
            <p>kid: <code id="eab-kid">{created.kid}</code></p>
            <p>hmac key: <code id="eab-hmac">{created.hmacKey}</code></p>
            <button class="link" onClick={() => setCreated(null)}>Done, hide it</button>
          </div>
        )}
      </div>
      <ErrorLine error={creds.error} />
      <table class="list" id="eab-list">
        <thead><tr><th>kid</th><th>policy</th><th>note</th><th>created</th><th>state</th></tr></thead>
        <tbody>
          {creds.data?.map((c) => (
            <tr data-kid={c.kid}>
              <td class="mono">{c.kid}</td>
              <td>{[...c.policy.dnsSuffixes, ...c.policy.ipRanges].join(', ') || 'any name'}{c.policy.profiles.length ? ` · profiles ${c.policy.profiles.join(', ')}` : ''}</td>
              <td>{c.note}</td>
              <td>{when(c.createdAt)}</td>
              <td>
                {c.revokedAt ? (
                  <span class="bad">revoked {when(c.revokedAt)}</span>
                ) : (
                  <Confirmed id={`eab-revoke-${c.kid}`} label="Revoke…" danger question={`Revoke ${c.kid}? Its accounts can no longer order.`} action={async () => {
                    await call('DELETE', `/admin/eab/${encodeURIComponent(c.kid)}`);
                    creds.reload();
                    return 'Revoked.';
                  }} />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
