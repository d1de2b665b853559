/** Accounts, newest first, and one account's orders and failed validations. */
import { useState } from 'preact/hooks';
import { get, qs, type Me } from '../api.js';
import { when } from '../format.js';
import { useLoad } from '../hooks.js';
import { ErrorLine } from '../widgets.js';

interface Account {
  id: string;
  status: string;
  contact: string[];
  externalAccountId: string | null;
  createdAt: string;
}

interface AccountDetails extends Account {
  orders: { id: string; status: string; identifiers: string[]; profile: string; createdAt: string; certificateId: string | null; error: { detail?: string } | null }[];
  failures: { challengeId: string; type: string; identifier: string; finishedAt: string | null; error: { type?: string; detail?: string } | null }[];
}

function AccountPage({ id }: { id: string }) {
  const a = useLoad(() => get<AccountDetails>(`/admin/accounts/${encodeURIComponent(id)}`), [id]);
  const d = a.data;
  return (
    <section id="account">
      <h1>Account <span class="mono small">{id}</span></h1>
      <p><a href="#/accounts">← all accounts</a> · <a href={`#/inventory?account=${encodeURIComponent(id)}`}>its certificates</a></p>
      <ErrorLine error={a.error} />
      {d && (
        <>
          <p>{d.status} · created {when(d.createdAt)} · {d.contact.join(', ') || 'no contact'} {d.externalAccountId && `· EAB ${d.externalAccountId}`}</p>
          <div class="card wide">
            <h2>Orders (newest 50)</h2>
            <table class="list" id="account-orders">
              <thead><tr><th>created</th><th>names</th><th>profile</th><th>status</th><th>error</th></tr></thead>
              <tbody>
                {d.orders.map((o) => (
                  <tr><td>{when(o.createdAt)}</td><td>{o.identifiers.join(', ')}</td><td>{o.profile}</td><td>{o.status}</td><td>{o.error?.detail ?? ''}</td></tr>
                ))}
              </tbody>
            </table>
          </div>
          <div class="card wide">
            <h2>Failed validations (newest 50)</h2>
            <table class="list" id="account-failures">
              <thead><tr><th>when</th><th>name</th><th>challenge</th><th>error</th></tr></thead>
              <tbody>
                {d.failures.map((f) => (
                  <tr><td>{when(f.finishedAt)}</td><td>{f.identifier}</td><td>{f.type}</td><td>{f.error?.type?.replace('urn:ietf:params:acme:error:', '')}: {f.error?.detail}</td></tr>
                ))}
                {d.failures.length === 0 && <tr><td colSpan={4}>none</td></tr>}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

export function AccountsView({ accountId }: { me: Me; accountId?: string }) {
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const page = useLoad(() => (accountId ? Promise.resolve(null) : get<{ accounts: Account[]; next: string | null }>(`/admin/accounts${qs({ cursor, limit: 25 })}`)), [cursor, accountId]);
  if (accountId) return <AccountPage id={accountId} />;
  const d = page.data;
  return (
    <section id="accounts">
      <h1>Accounts</h1>
      <ErrorLine error={page.error} />
      {d && (
        <>
          <table class="list">
            <thead><tr><th>account</th><th>status</th><th>contact</th><th>EAB</th><th>created</th></tr></thead>
            <tbody>
              {d.accounts.map((a) => (
                <tr><td class="mono"><a href={`#/accounts/${a.id}`}>{a.id}</a></td><td>{a.status}</td><td>{a.contact.join(', ')}</td><td>{a.externalAccountId ?? ''}</td><td>{when(a.createdAt)}</td></tr>
              ))}
            </tbody>
          </table>
          <p class="pager">
            <button disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>Previous</button>
            <button disabled={!d.next} onClick={() => d.next && setCursors([...cursors, d.next])}>Next</button>
          </p>
        </>
      )}
    </section>
  );
}
