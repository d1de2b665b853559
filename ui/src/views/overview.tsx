/** Overview: activity over 24 h, live certificates, what expires, CRL/OCSP freshness, anomalies, health. */
import { can, get, type Me } from '../api.js';
import { relative, when } from '../format.js';
import { useLoad } from '../hooks.js';
import { ErrorLine, HourlyChart } from '../widgets.js';

interface Overview {
  generatedAt: string;
  activity: { hour: string; issued: number; failedValidations: number; revoked: number }[];
  byProfile: { profile: string; live: number }[];
  byIssuer: { issuer: string; live: number }[];
  expiring24h: { total: number; withSuccessor: number; withoutSuccessor: number };
  freshness: {
    issuer: string;
    status: string;
    crl: { number: number | null; thisUpdate: string | null; nextUpdate: string | null; shards: number; oldestShardThisUpdate: string | null; expired: number };
    ocsp: { overdue: number; earliestNextUpdate: string | null };
  }[];
  instance: { pid: number; node: string; startedAt: string; uptimeSeconds: number; rssBytes: number; activeIssuer: string; id: string };
  instances: { id: string; host: string; pid: number; startedAt: string; seenAt: string; self: boolean }[];
  leases: { task: string; holder: string; fence: number; acquiredAt: string; expiresAt: string; live: boolean }[];
}

interface Finding {
  kind: string;
  detail: string;
  hint: string;
  accounts?: string[];
  names?: string[];
  count?: number;
}

interface Readiness {
  status: string;
  checks: { name: string; ok: boolean; detail?: string }[];
}

export function OverviewView({ me }: { me: Me }) {
  const o = useLoad(() => get<Overview>('/admin/overview'), []);
  const anomalies = useLoad(() => (can(me, 'anomalies:read') ? get<Finding[]>('/admin/anomalies') : Promise.resolve(null)), []);
  // /readyz is the listener's unauthenticated health answer; the page shows it as the instance's health.
  const ready = useLoad(() => fetch('/readyz').then((r) => r.json() as Promise<Readiness>), []);
  const d = o.data;
  return (
    <section id="overview">
      <h1>
        Overview <button class="link" onClick={() => (o.reload(), anomalies.reload(), ready.reload())}>Refresh</button>
      </h1>
      <ErrorLine error={o.error} />
      {d && (
        <>
          <div class="cards">
            <div class="card" id="expiring">
              <h2>Expiring within 24 h</h2>
              <p class="big">{d.expiring24h.total}</p>
              <p>
                <span class="good">{d.expiring24h.withSuccessor} renewed</span> · <span class={d.expiring24h.withoutSuccessor ? 'bad' : ''}>{d.expiring24h.withoutSuccessor} without a successor</span>
              </p>
              <a href="#/inventory?revoked=false&within=24h">See them in the inventory</a>
            </div>
            <div class="card">
              <h2>Live certificates by profile</h2>
              <table id="by-profile">
                <tbody>
                  {d.byProfile.map((p) => (
                    <tr>
                      <td><a href={`#/inventory?profile=${encodeURIComponent(p.profile)}&revoked=false`}>{p.profile}</a></td>
                      <td class="num">{p.live}</td>
                    </tr>
                  ))}
                  {d.byProfile.length === 0 && <tr><td>none yet</td></tr>}
                </tbody>
              </table>
            </div>
            <div class="card">
              <h2>Live certificates by issuer</h2>
              <table id="by-issuer">
                <tbody>
                  {d.byIssuer.map((p) => (
                    <tr>
                      <td><a href={`#/inventory?issuer=${encodeURIComponent(p.issuer)}&revoked=false`}>{p.issuer}</a></td>
                      <td class="num">{p.live}</td>
                    </tr>
                  ))}
                  {d.byIssuer.length === 0 && <tr><td>none yet</td></tr>}
                </tbody>
              </table>
            </div>
          </div>
          <div class="card wide">
            <h2>Issuance and failed validations per hour, last 24 h</h2>
            <HourlyChart
              hours={d.activity.map((a) => a.hour)}
              series={[
                { label: 'issued', values: d.activity.map((a) => a.issued), color: '#2266cc' },
                { label: 'failed validations', values: d.activity.map((a) => a.failedValidations), color: '#cc3322' },
                { label: 'revoked', values: d.activity.map((a) => a.revoked), color: '#888888' },
              ]}
            />
          </div>
          <div class="card wide">
            <h2>CRL and OCSP freshness per issuer</h2>
            <table id="freshness">
              <thead>
                <tr><th>issuer</th><th>status</th><th>full CRL</th><th>CRL next update</th><th>shards</th><th>oldest shard</th><th>OCSP answers overdue</th><th>earliest OCSP next update</th></tr>
              </thead>
              <tbody>
                {d.freshness.map((f) => (
                  <tr>
                    <td>{f.issuer}</td>
                    <td><span class={`status status-${f.status}`}>{f.status}</span></td>
                    <td>{f.crl.number === null ? <span class="bad">none published</span> : `#${f.crl.number}, ${relative(f.crl.thisUpdate)}`}</td>
                    <td class={f.crl.expired ? 'bad' : ''}>{relative(f.crl.nextUpdate)}{f.crl.expired ? ` (${f.crl.expired} expired)` : ''}</td>
                    <td class="num">{f.crl.shards}</td>
                    <td>{relative(f.crl.oldestShardThisUpdate)}</td>
                    <td class={`num ${f.ocsp.overdue ? 'bad' : ''}`}>{f.ocsp.overdue}</td>
                    <td>{relative(f.ocsp.earliestNextUpdate)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      {can(me, 'anomalies:read') && (
        <div class="card wide" id="anomalies">
          <h2>Anomalies</h2>
          <ErrorLine error={anomalies.error} />
          {anomalies.data && anomalies.data.length === 0 && <p class="good">No anomalies found by the last scan.</p>}
          <ul>
            {anomalies.data?.map((f) => (
              <li>
                <strong>{f.kind}</strong>: {f.detail}
                {f.names && f.names.length > 0 && <span class="muted"> — {f.names.slice(0, 5).join(', ')}</span>}
                <br />
                <span class="hint">Hint: {f.hint}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
      <div class="cards">
        <div class="card" id="health">
          <h2>This instance</h2>
          {ready.data && (
            <p>
              <span class={ready.data.status === 'ready' ? 'good' : 'bad'}>{ready.data.status}</span>
            </p>
          )}
          <ul class="checks">
            {ready.data?.checks.map((c) => (
              <li class={c.ok ? 'good' : 'bad'}>
                {c.ok ? '✓' : '✗'} {c.name}
                {c.detail ? `: ${c.detail}` : ''}
              </li>
            ))}
          </ul>
          {d && (
            <p class="muted">
              pid {d.instance.pid} · node {d.instance.node} · up since {when(d.instance.startedAt)} · {Math.round(d.instance.rssBytes / 1048576)} MiB · active issuer {d.instance.activeIssuer}
            </p>
          )}
        </div>
        <div class={`card ${d && d.instances.length === 0 && d.leases.length === 0 ? 'placeholder' : ''}`} id="leases">
          <h2>Instances and leases</h2>
          {d && d.instances.length === 0 && d.leases.length === 0 && (
            <p>
              <strong>No data yet.</strong> No instance has sent a heartbeat to this store in the last minute and no
              periodic task holds a lease.
            </p>
          )}
          {d && d.instances.length > 0 && (
            <table id="instances">
              <thead><tr><th>instance</th><th>pid</th><th>started</th><th>last heartbeat</th></tr></thead>
              <tbody>
                {d.instances.map((i) => (
                  <tr>
                    <td class="mono small">{i.id}{i.self && <span class="status status-active"> this one</span>}</td>
                    <td class="num">{i.pid}</td>
                    <td>{relative(i.startedAt)}</td>
                    <td class={Date.now() - new Date(i.seenAt).getTime() > 30_000 ? 'bad' : 'good'}>{relative(i.seenAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {d && d.leases.length > 0 && (
            <table id="lease-list">
              <thead><tr><th>task</th><th>holder</th><th>fence</th><th>expires</th></tr></thead>
              <tbody>
                {d.leases.map((l) => (
                  <tr>
                    <td>{l.task}</td>
                    <td class="mono small">{l.holder}</td>
                    <td class="num">{l.fence}</td>
                    <td class={l.live ? 'good' : 'bad'}>{l.live ? relative(l.expiresAt) : `lapsed ${relative(l.expiresAt)}`}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      </div>
      {d && <p class="muted">Generated {when(d.generatedAt)}</p>}
    </section>
  );
}
