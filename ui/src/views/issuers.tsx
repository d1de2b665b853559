/** Issuers: the hierarchy with statuses and counts, the trust bundle version, and the CA actions the role holds. */
import { useState } from 'preact/hooks';
import { call, can, get, type Me } from '../api.js';
import { relative, when } from '../format.js';
import { useLoad } from '../hooks.js';
import { Confirmed, ErrorLine } from '../widgets.js';

interface Hierarchy {
  bundleVersion: number;
  roots: { id: string; status: string; hasKey: boolean; subject: string; notAfter: string }[];
  issuers: { id: string; status: string; active: boolean; keyStore: string; subject: string; issuedBy: string; crossSignedBy: string[]; notAfter: string; liveCertificates: number }[];
  profiles: string[];
}

export function IssuersView({ me }: { me: Me }) {
  const h = useLoad(() => get<Hierarchy>('/admin/hierarchy'), []);
  const [profile, setProfile] = useState('');
  const d = h.data;
  return (
    <section id="issuers">
      <h1>Issuers</h1>
      <ErrorLine error={h.error} />
      {d && (
        <>
          <p>Trust bundle version <strong id="bundle-version">{d.bundleVersion}</strong> (<code>GET /trust-bundle</code> on the ACME listener).</p>
          <ul class="tree" id="hierarchy">
            {d.roots.map((r) => (
              <li>
                <span class={`status status-${r.status}`}>{r.status}</span> <strong>root {r.id}</strong> — {r.subject} · expires {when(r.notAfter)} · key {r.hasKey ? 'present' : 'offline'}
                <ul>
                  {d.issuers.filter((i) => i.issuedBy === r.subject).map((i) => (
                    <li data-issuer={i.id}>
                      <span class={`status status-${i.status}`}>{i.status}</span> {i.active && <span class="status status-active">signing</span>} <strong>{i.id}</strong> — {i.subject}
                      <div class="muted">
                        key in {i.keyStore} · expires {when(i.notAfter)} ({relative(i.notAfter)}) · {i.liveCertificates} live certificates
                        {i.crossSignedBy.length > 0 && ` · cross-signed by ${i.crossSignedBy.join('; ')}`}
                      </div>
                      {can(me, 'renewals:issuer') && (
                        <Confirmed id={`renew-issuer-${i.id}`} label="Renew this issuer's fleet…" question={`Ask every client with a certificate from ${i.id} to renew now (ARI)?`} action={async () => {
                          await call('POST', `/admin/issuers/${encodeURIComponent(i.id)}/renew`);
                          return `Renewal triggered for ${i.id}.`;
                        }} />
                      )}
                    </li>
                  ))}
                </ul>
              </li>
            ))}
          </ul>
          {d.issuers.some((i) => !d.roots.some((r) => r.subject === i.issuedBy)) && (
            <p class="muted">Issuers under an external root: {d.issuers.filter((i) => !d.roots.some((r) => r.subject === i.issuedBy)).map((i) => i.id).join(', ')}</p>
          )}
          <div class="cards">
            {can(me, 'issuers:manage') && (
              <div class="card">
                <h2>Rotate</h2>
                <p>Create a new intermediate and make it active; the current one becomes retiring and its certificates are asked to renew.</p>
                <Confirmed id="rotate" label="Rotate the active issuer…" danger question="Create a new intermediate and make it the active issuer?" action={async () => {
                  await call('POST', '/admin/issuers/rotate');
                  h.reload();
                  return 'Rotated: a new issuer is active.';
                }} />
              </div>
            )}
            {can(me, 'renewals:profile') && (
              <div class="card">
                <h2>Fleet renewal by profile</h2>
                <label>
                  Profile
                  <select id="renew-profile" value={profile} onChange={(e) => setProfile((e.target as HTMLSelectElement).value)}>
                    <option value="">choose…</option>
                    {d.profiles.map((p) => <option value={p}>{p}</option>)}
                  </select>
                </label>
                {profile && (
                  <Confirmed id="renew-profile-go" label={`Renew every ${profile} certificate…`} question={`Ask every client with a ${profile} certificate to renew now (ARI)?`} action={async () => {
                    await call('POST', '/admin/renewals', { profile });
                    return `Renewal triggered for profile ${profile}.`;
                  }} />
                )}
              </div>
            )}
          </div>
          {!can(me, 'issuers:manage') && !can(me, 'renewals:profile') && !can(me, 'renewals:issuer') && <p class="muted">Your role ({me.role}) may look but not change the CA.</p>}
        </>
      )}
    </section>
  );
}
