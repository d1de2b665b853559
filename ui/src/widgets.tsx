/** Shared pieces of the views: an error line, a confirmation step before an action, a chart. */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import uPlot from 'uplot';

export const ErrorLine = ({ error }: { error: string }) => (error ? <p class="error" role="alert">{error}</p> : null);

/** A button that asks once more before it acts; shows the action's result or error. */
export function Confirmed(props: { id: string; label: string; question: string; danger?: boolean; action: () => Promise<string>; children?: ComponentChildren }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState('');
  const [error, setError] = useState('');
  const go = async () => {
    setBusy(true);
    setError('');
    try {
      setResult(await props.action());
      setAsking(false);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="confirmed">
      {!asking && (
        <button id={props.id} class={props.danger ? 'danger' : ''} onClick={() => (setAsking(true), setResult(''))}>
          {props.label}
        </button>
      )}
      {asking && (
        <div class="confirm" role="dialog" aria-label={props.question}>
          <p>{props.question}</p>
          {props.children}
          <button id={`${props.id}-confirm`} class={props.danger ? 'danger' : ''} disabled={busy} onClick={go}>
            Confirm
          </button>
          <button class="link" onClick={() => setAsking(false)}>
            Cancel
          </button>
        </div>
      )}
      {result && <p class="ok" role="status">{result}</p>}
      <ErrorLine error={error} />
    </div>
  );
}

/** Hourly series as a uPlot line chart. */
export function HourlyChart({ hours, series }: { hours: string[]; series: { label: string; values: number[]; color: string }[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return undefined;
    const width = Math.max(box.current.clientWidth, 320);
    const plot = new uPlot(
      {
        width,
        height: 220,
        scales: { x: { time: true } },
        axes: [{}, { label: 'per hour' }],
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, fill: `${s.color}22` }))],
      },
      [hours.map((h) => new Date(h).getTime() / 1000), ...series.map((s) => s.values)],
      box.current,
    );
    return () => plot.destroy();
  }, [hours.join(), series.map((s) => s.values.join()).join('|')]);
  return <div class="chart" ref={box} />;
}
