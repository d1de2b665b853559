/** The dashboard shell: sign-in, the session, navigation by role, and a hash router over the views. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { ApiError, call, can, get, setSession, type Me } from './api.js';
import { AccountsView } from './views/accounts.js';
import { AuditView } from './views/audit.js';
import { CertificateView } from './views/certificate.js';
import { EabView } from './views/eab.js';
import { InventoryView } from './views/inventory.js';
import { IssuersView } from './views/issuers.js';
import { OverviewView } from './views/overview.js';

interface Route {
  path: string;
  params: URLSearchParams;
}

const parseHash = (): Route => {
  const [path, query] = (location.hash.replace(/^#/, '') || '/overview').split('?');
  return { path: path || '/overview', params: new URLSearchParams(query ?? '') };
};

const NAV: { path: string; label: string; permission: string }[] = [
  { path: '/overview', label: 'Overview', permission: 'certificates:read' },
  { path: '/inventory', label: 'Inventory', permission: 'certificates:read' },
  { path: '/issuers', label: 'Issuers', permission: 'issuers:read' },
  { path: '/accounts', label: 'Accounts', permission: 'accounts:read' },
  { path: '/eab', label: 'EAB', permission: 'eab:manage' },
  { path: '/audit', label: 'Audit', permission: 'audit:read' },
];

function SignIn({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      onSignedIn(await call<Me>('POST', '/ui/api/session', { token }));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'sign-in failed');
    }
  };
  return (
    <main class="signin">
      <h1>Anvil</h1>
      <p>Sign in with an admin token (<code>anvil admin-token create --role operator --name you</code>).</p>
      <form onSubmit={submit}>
        <label>
          Admin token
          <input id="token" type="password" autocomplete="off" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" id="sign-in">Sign in</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
    </main>
  );
}

function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const onHash = () => setRoute(parseHash());
    addEventListener('hashchange', onHash);
    get<Me>('/ui/api/session').then(signedIn, () => setMe(null));
    return () => removeEventListener('hashchange', onHash);
  }, []);
  function signedIn(m: Me) {
    setSession(m, () => setMe(null));
    setMe(m);
  }
  if (me === undefined) return <p class="loading">Loading…</p>;
  if (me === null) return <SignIn onSignedIn={signedIn} />;
  const signOut = async () => {
    await call('DELETE', '/ui/api/session').catch(() => undefined);
    setSession(null);
    setMe(null);
  };
  const allowed = NAV.filter((n) => can(me, n.permission));
  const section = '/' + (route.path.split('/')[1] ?? '');
  let view;
  if (route.path.startsWith('/cert/')) view = <CertificateView me={me} serial={decodeURIComponent(route.path.slice(6))} />;
  else if (route.path.startsWith('/accounts/') && can(me, 'accounts:read')) view = <AccountsView me={me} accountId={decodeURIComponent(route.path.slice(10))} />;
  else if (section === '/inventory') view = <InventoryView params={route.params} />;
  else if (section === '/issuers' && can(me, 'issuers:read')) view = <IssuersView me={me} />;
  else if (section === '/accounts' && can(me, 'accounts:read')) view = <AccountsView me={me} />;
  else if (section === '/eab' && can(me, 'eab:manage')) view = <EabView />;
  else if (section === '/audit' && can(me, 'audit:read')) view = <AuditView params={route.params} />;
  else view = <OverviewView me={me} />;
  return (
    <div class="shell">
      <header>
        <span class="brand">Anvil</span>
        <nav>
          {allowed.map((n) => (
            <a href={`#${n.path}`} class={section === n.path || (n.path === '/inventory' && section === '/cert') ? 'active' : ''}>
              {n.label}
            </a>
          ))}
        </nav>
        <span class="who">
          <span id="who">{me.name}</span> <span class={`role role-${me.role}`}>{me.role}</span>
          <button class="link" id="sign-out" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main>{view}</main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
