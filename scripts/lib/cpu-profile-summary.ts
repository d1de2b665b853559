/**
 * Where a V8 CPU profile (node --cpu-prof) spent its time: self time by package or source file,
 * and the heaviest functions, as shares of all samples. Used by `scripts/bench --cpu-profile DIR`
 * so a reader sees where Anvil's CPU per order goes without opening a profiler.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
}

const where = (url: string): string => {
  if (!url) return '(native)';
  const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  return url.replace(/^file:\/\/.*?\/dist\//, '').replace(/^node:internal\//, 'node:');
};

/** The largest profile in `dir` (the serving process), summarised in `top` lines per table. */
export function summariseCpuProfiles(dir: string, top = 15): string {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f));
  if (files.length === 0) return `no .cpuprofile in ${dir}`;
  const largest = files.sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
  const profile = JSON.parse(readFileSync(largest, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const hits = new Map<number, number>();
  for (const s of profile.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
  const byPlace = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, n] of hits) {
    const f = byId.get(id)!.callFrame;
    const place = f.url ? where(f.url) : f.functionName;
    byPlace.set(place, (byPlace.get(place) ?? 0) + n);
    const fn = `${f.functionName || '(anonymous)'} ${where(f.url)}:${f.lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + n);
  }
  const total = profile.samples.length;
  const table = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, n]) => `  ${((100 * n) / total).toFixed(1).padStart(5)} %  ${k}`)
      .join('\n');
  return `CPU profile ${largest} (${total} samples)\nself time by package or file:\n${table(byPlace)}\nheaviest functions (self time):\n${table(byFunction)}`;
}
