/**
 * openssl as the independent judge of an issued certificate's contents: validity dates
 * (`-dates`), subject (`-subject`), the extensions a profile controls (`-ext`), and the full
 * `-text` for failure messages. Parsing is deliberately literal: what openssl prints is what a
 * relying party's tooling sees.
 */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describeRun, run, tempDir } from '../interop/harness.js';

/** One extension as `openssl x509 -ext` prints it. */
export interface OpensslExtension {
  critical: boolean;
  /** The indented value lines, trimmed and joined with '\n'. */
  value: string;
}

/** What openssl says about a certificate. */
export interface OpensslView {
  notBefore: Date;
  notAfter: Date;
  /** `-subject` without the `subject=` prefix ('' for an empty subject). */
  subject: string;
  /** Extensions by openssl's display name, e.g. `X509v3 Key Usage`, `Authority Information Access`. */
  extensions: Map<string, OpensslExtension>;
  /** `openssl x509 -noout -text`, for assertion messages. */
  text: string;
}

/** openssl's short name (for -ext) → display name (as openssl 3 prints it) of the extensions a profile decides. */
export const EXT = {
  keyUsage: 'X509v3 Key Usage',
  extendedKeyUsage: 'X509v3 Extended Key Usage',
  authorityInfoAccess: 'Authority Information Access',
  crlDistributionPoints: 'X509v3 CRL Distribution Points',
  subjectAltName: 'X509v3 Subject Alternative Name',
  basicConstraints: 'X509v3 Basic Constraints',
} as const;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Parses openssl's `Nov 24 12:11:15 2026 GMT`. */
export function parseOpensslTime(text: string): Date {
  const m = /^([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{2}):(\d{2}):(\d{2})\s+(\d{4})\s+GMT$/.exec(text.trim());
  if (!m) throw new Error(`not an openssl time: ${JSON.stringify(text)}`);
  const month = MONTHS.indexOf(m[1]!);
  return new Date(Date.UTC(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])));
}

/** Parses `openssl x509 -noout -ext …` output: a header line per extension, then indented values. */
export function parseOpensslExtensions(output: string): Map<string, OpensslExtension> {
  const out = new Map<string, OpensslExtension>();
  let current: { name: string; ext: OpensslExtension } | undefined;
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    if (!/^\s/.test(line)) {
      const m = /^(.*?):\s*(critical)?\s*$/.exec(line);
      if (!m) continue;
      current = { name: m[1]!, ext: { critical: m[2] === 'critical', value: '' } };
      out.set(current.name, current.ext);
      continue;
    }
    if (current) current.ext.value = current.ext.value ? `${current.ext.value}\n${line.trim()}` : line.trim();
  }
  return out;
}

async function openssl(args: string[], file: string): Promise<string> {
  const result = await run('openssl', ['x509', '-noout', ...args, '-in', file], { timeoutMs: 20_000 });
  if (result.code !== 0) throw new Error(`openssl x509 ${args.join(' ')} failed\n${describeRun(result)}`);
  return result.stdout;
}

/** Runs openssl x509 with -dates, -subject, -ext and -text over a PEM certificate. */
export async function opensslView(pem: string): Promise<OpensslView> {
  const dir = await tempDir('anvil-openssl-view-');
  try {
    const file = path.join(dir, 'cert.pem');
    await writeFile(file, pem);
    const dates = await openssl(['-dates'], file);
    const notBefore = /notBefore=(.*)/.exec(dates)?.[1];
    const notAfter = /notAfter=(.*)/.exec(dates)?.[1];
    if (!notBefore || !notAfter) throw new Error(`openssl -dates printed no dates: ${dates}`);
    const subject = (await openssl(['-subject', '-nameopt', 'RFC2253'], file)).trim().replace(/^subject=\s*/, '');
    const extensions = parseOpensslExtensions(await openssl(['-ext', Object.keys(EXT).join(',')], file));
    const text = await openssl(['-text'], file);
    return { notBefore: parseOpensslTime(notBefore), notAfter: parseOpensslTime(notAfter), subject, extensions, text };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The comma-separated entries of an extension value (`Digital Signature, Key Encipherment`), sorted. */
export function listOf(ext: OpensslExtension | undefined): string[] {
  if (!ext) return [];
  return ext.value
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .sort();
}
