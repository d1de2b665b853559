/**
 * Reading Prometheus text exposition (format 0.0.4) in tests: scrape an admin listener's
 * /metrics, parse every sample with its labels, and compare two scrapes by series so a test can
 * assert that a counter moved by exactly the expected amount.
 */
import assert from 'node:assert/strict';
import { plainRequest } from './admin-http.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  samples: Sample[];
  text: string;
}

/** Parses one exposition; comments and blank lines are skipped, label values unescaped. */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const v = m[4]!;
    samples.push({ name: m[1]!, labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return samples;
}

/** GET <adminUrl>/metrics (unauthenticated), checked to be Prometheus text, parsed. */
export async function scrapeMetrics(adminUrl: string): Promise<Scrape> {
  const res = await plainRequest(`${adminUrl}/metrics`);
  assert.equal(res.status, 200, `GET /metrics: ${res.status} ${res.body.slice(0, 500)}`);
  assert.match(String(res.headers['content-type'] ?? ''), /^text\/plain/, 'Prometheus text exposition content type');
  return { samples: parsePrometheus(res.body), text: res.body };
}

const matches = (s: Sample, name: string, labels: Record<string, string>): boolean =>
  s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v);

/** The samples of `name` whose labels include every pair of `labels`. */
export function series(scrape: Scrape, name: string, labels: Record<string, string> = {}): Sample[] {
  return scrape.samples.filter((s) => matches(s, name, labels));
}

/** Sum over the series of `name` matching `labels` (0 when none exist yet: a counter never incremented). */
export function total(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  return series(scrape, name, labels).reduce((n, s) => n + s.value, 0);
}

/** How much the summed series moved between two scrapes. */
export function delta(before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): number {
  return total(after, name, labels) - total(before, name, labels);
}

/** The lines of a scrape mentioning `name`, for assertion messages. */
export function linesOf(scrape: Scrape, name: string): string {
  return scrape.text
    .split('\n')
    .filter((l) => l.includes(name))
    .join('\n');
}
