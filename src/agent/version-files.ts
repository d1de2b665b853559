/** What one installed version holds and is called: the files an intent's output names, and a sortable version name. */
import type { VersionFile } from './atomic-writer.js';
import type { CertificateIntent } from './config.js';

/** The files of one version directory: leaf, chain, full chain, key, and the combined file if asked for. */
export function versionFiles(o: CertificateIntent['output'], leaf: string, chain: string[], keyPem: string): VersionFile[] {
  const full = [leaf, ...chain].join('');
  return [
    { name: o.cert, content: leaf, mode: o.mode },
    { name: o.chain, content: chain.join(''), mode: o.mode },
    { name: o.fullchain, content: full, mode: o.mode },
    { name: o.key, content: keyPem, mode: o.keyMode },
    ...(o.combined ? [{ name: o.combined, content: `${keyPem.trimEnd()}\n${full}`, mode: o.keyMode }] : []),
  ];
}

/** A version's directory name: a time stamp (20261202T113337), `fallback` for the operator's credential, and the serial's start. */
export function versionName(now: number, serial: string, kind?: 'fallback'): string {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  return `${stamp}${kind ? `-${kind}` : ''}-${serial.slice(0, 12).toLowerCase()}`;
}
