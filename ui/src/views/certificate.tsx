/** A certificate: details, downloads, OCSP and ARI state, predecessor/successor, audit trail, revoke. */
import { useState } from 'preact/hooks';
import { call, can, get, type Me } from '../api.js';
import { REASONS, reasonName, relative, when } from '../format.js';
import { useLoad } from '../hooks.js';
import { Confirmed, ErrorLine } from '../widgets.js';
import type { CertificateRow } from './inventory.js';

interface Ref {
  serial: string;
  notAfter: string;
  revoked: boolean;
}

interface Details extends CertificateRow {
  subject: string;
  issuerName: string;
  issuedAt: string;
  orderId: string;
  profileHash: string;
  crlShard: number;
  invalidityDate: string | null;
  renewalWindow: { start: string; end: string };
  ocsp: { status: string; presigned: { signedAs: string; thisUpdate: string; nextUpdate: string } | null };
  ari: { start: string; end: string; retryAfterSeconds: number; certId: string } | null;
  predecessors: Ref[];
  successor: Ref | null;
}

interface AuditEntry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  data: Record<string, unknown>;
}

const RefLink = ({ r }: { r: Ref }) => (
  <a href={`#/cert/${r.serial}`} class="mono">
    {r.serial.slice(0, 16)}… ({r.revoked ? 'revoked' : `expires ${relative(r.notAfter)}`})
  </a>
);

export function CertificateView({ me, serial }: { me: Me; serial: string }) {
  const c = useLoad(() => get<Details>(`/admin/certificates/${encodeURIComponent(serial)}`), [serial]);
  const trail = useLoad(() => (can(me, 'audit:read') ? get<AuditEntry[]>(`/admin/certificates/${encodeURIComponent(serial)}/audit`) : Promise.resolve(null)), [serial]);
  const [reason, setReason] = useState(0);
  const d = c.data;
  return (
    <section id="certificate">
      <h1>Certificate <span class="mono small">{serial}</span></h1>
      <ErrorLine error={c.error} />
      {d && (
        <>
          <div class="cards">
            <div class="card">
              <h2>Details</h2>
              <dl>
                <dt>Names</dt><dd id="cert-names">{d.names.join(', ')}</dd>
                <dt>Subject</dt><dd>{d.subject || '(empty: SAN only)'}</dd>
                <dt>Issuer</dt><dd>{d.issuer} — {d.issuerName}</dd>
                <dt>Profile</dt><dd>{d.profile} <span class="muted mono">{d.profileHash.slice(0, 12)}</span></dd>
                <dt>Account</dt><dd><a href={`#/accounts/${d.account}`}>{d.account}</a></dd>
                <dt>Order</dt><dd class="mono">{d.orderId}</dd>
                <dt>Valid</dt><dd>{when(d.notBefore)} → {when(d.notAfter)} ({relative(d.notAfter)})</dd>
                <dt>Issued</dt><dd>{when(d.issuedAt)}</dd>
                <dt>CRL shard</dt><dd>{d.crlShard}</dd>
              </dl>
              <p>
                <a id="download-chain" href={`/admin/certificates/${d.serial}/chain.pem`} download>Download PEM chain</a> ·{' '}
                <a href={`/admin/certificates/${d.serial}/chain.pem?leaf=true`} download>leaf only</a>
              </p>
            </div>
            <div class="card">
              <h2>Status</h2>
              <dl>
                <dt>OCSP</dt>
                <dd id="ocsp-status" class={d.ocsp.status === 'revoked' ? 'bad' : 'good'}>{d.ocsp.status}</dd>
                {d.revokedAt && (
                  <>
                    <dt>Revoked</dt>
                    <dd id="revoked-at">{when(d.revokedAt)}, reason {reasonName(d.revocationReason)}{d.invalidityDate ? `, invalid since ${when(d.invalidityDate)}` : ''}</dd>
                  </>
                )}
                <dt>Pre-signed answer</dt>
                <dd>{d.ocsp.presigned ? `${d.ocsp.presigned.signedAs}, this update ${when(d.ocsp.presigned.thisUpdate)}, next update ${relative(d.ocsp.presigned.nextUpdate)}` : 'none (signed on demand)'}</dd>
                <dt>ARI window</dt>
                <dd id="ari-window">{d.ari ? `${when(d.ari.start)} → ${when(d.ari.end)} (retry after ${d.ari.retryAfterSeconds} s)` : '—'}</dd>
                <dt>Issued window</dt>
                <dd>{when(d.renewalWindow.start)} → {when(d.renewalWindow.end)}</dd>
                <dt>Predecessor</dt>
                <dd id="predecessor">{d.predecessors.length ? d.predecessors.map((p) => <div><RefLink r={p} /></div>) : 'none'}</dd>
                <dt>Successor</dt>
                <dd id="successor">{d.successor ? <RefLink r={d.successor} /> : 'none yet'}</dd>
              </dl>
              {can(me, 'certificates:revoke') && !d.revokedAt && (
                <Confirmed id="revoke" label="Revoke…" danger question={`Revoke ${d.names.join(', ')}? This cannot be undone.`} action={async () => {
                  await call('POST', `/admin/certificates/${d.serial}/revoke`, { reason });
                  c.reload();
                  trail.reload();
                  return 'Revoked.';
                }}>
                  <label>
                    Reason
                    <select id="revoke-reason" value={String(reason)} onChange={(e) => setReason(Number((e.target as HTMLSelectElement).value))}>
                      {REASONS.map(([code, name]) => <option value={String(code)}>{name}</option>)}
                    </select>
                  </label>
                </Confirmed>
              )}
            </div>
          </div>
          {can(me, 'audit:read') && (
            <div class="card wide">
              <h2>Audit trail</h2>
              <ErrorLine error={trail.error} />
              <table class="list" id="cert-audit">
                <tbody>
                  {trail.data?.map((a) => (
                    <tr><td class="num">{a.seq}</td><td>{when(a.at)}</td><td>{a.actor}</td><td>{a.action}</td><td class="mono small">{JSON.stringify(a.data)}</td></tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
