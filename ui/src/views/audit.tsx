/** The audit log, newest first, filtered by actor, action or subject; and the chain verification. */
import { useState } from 'preact/hooks';
import { get, qs } from '../api.js';
import { when } from '../format.js';
import { useLoad } from '../hooks.js';
import { ErrorLine } from '../widgets.js';

interface Entry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  data: Record<string, unknown>;
}

interface Verdict {
  ok: boolean;
  records: number;
  problem?: { seq: number; reason: string };
  /** The lines `anvil audit verify` prints for the same store and checkpoint. */
  report: string[];
}

export function AuditView({ params }: { params: URLSearchParams }) {
  const initial = { actor: params.get('actor') ?? '', action: params.get('action') ?? '', subject: params.get('subject') ?? '' };
  const [form, setForm] = useState(initial);
  const [query, setQuery] = useState(initial);
  const [befores, setBefores] = useState<string[]>([]);
  const before = befores[befores.length - 1];
  const page = useLoad(() => get<{ records: Entry[]; next: string | null }>(`/admin/audit/search${qs({ ...query, before, limit: 50 })}`), [JSON.stringify(query), before]);
  const [verdict, setVerdict] = useState<Verdict | null>(null);
  const [verifying, setVerifying] = useState(false);
  const [verifyError, setVerifyError] = useState('');
  const verify = async () => {
    setVerifying(true);
    setVerifyError('');
    try {
      setVerdict(await get<Verdict>('/admin/audit/verify'));
    } catch (e) {
      setVerifyError((e as Error).message);
    } finally {
      setVerifying(false);
    }
  };
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  return (
    <section id="audit">
      <h1>Audit log</h1>
      <p>
        <button id="verify-chain" onClick={verify} disabled={verifying}>{verifying ? 'Verifying…' : 'Verify chain'}</button>{' '}
        {verdict && (
          <pre id="verify-result" class={verdict.ok ? 'good' : 'bad'}>
            {verdict.report.join('\n')}
          </pre>
        )}
      </p>
      <ErrorLine error={verifyError} />
      <form class="search" onSubmit={(e) => (e.preventDefault(), setBefores([]), setQuery({ ...form }))}>
        <label>Actor<input id="a-actor" value={form.actor} onInput={set('actor')} placeholder="admin:alice" /></label>
        <label>Action<input id="a-action" value={form.action} onInput={set('action')} placeholder="certificate.revoked" /></label>
        <label>Subject<input id="a-subject" value={form.subject} onInput={set('subject')} placeholder="serial, order id…" /></label>
        <button type="submit" id="audit-search">Filter</button>
      </form>
      <ErrorLine error={page.error} />
      <table class="list" id="audit-list">
        <thead><tr><th>seq</th><th>at</th><th>actor</th><th>action</th><th>subject</th><th>data</th></tr></thead>
        <tbody>
          {page.data?.records.map((r) => (
            <tr><td class="num">{r.seq}</td><td>{when(r.at)}</td><td>{r.actor}</td><td>{r.action}</td><td class="mono small">{r.subject}</td><td class="mono small">{JSON.stringify(r.data)}</td></tr>
          ))}
        </tbody>
      </table>
      <p class="pager">
        <button disabled={befores.length === 0} onClick={() => setBefores(befores.slice(0, -1))}>Newer</button>
        <button disabled={!page.data?.next} onClick={() => page.data?.next && setBefores([...befores, page.data.next])}>Older</button>
      </p>
    </section>
  );
}
