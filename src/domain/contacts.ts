/**
 * Account contact checks (RFC 8555 §7.3): mailto: URIs only, one plain address each, no header
 * fields; anything else is unsupportedContact or invalidContact naming the value.
 */
import { problems } from '../acme/problem.js';

const MAX_CONTACTS = 10;
const MAX_CONTACT_LENGTH = 320;
// RFC 5321 local part (dot-atom) @ domain of LDH labels with at least one dot.
const EMAIL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export function checkContacts(raw: unknown): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw problems.malformed('"contact" must be an array of URIs');
  if (raw.length > MAX_CONTACTS) throw problems.invalidContact(`at most ${MAX_CONTACTS} contacts are accepted`);
  const out: string[] = [];
  for (const c of raw) {
    if (typeof c !== 'string') throw problems.malformed('each contact must be a string');
    if (c.length > MAX_CONTACT_LENGTH) throw problems.invalidContact(`contact is longer than ${MAX_CONTACT_LENGTH} characters`);
    if (!c.toLowerCase().startsWith('mailto:')) {
      const scheme = c.includes(':') ? c.slice(0, c.indexOf(':')) : c;
      throw problems.unsupportedContact(`contact scheme ${JSON.stringify(scheme)} is not supported; only mailto: is`);
    }
    const address = c.slice('mailto:'.length);
    if (address.includes('?')) throw problems.invalidContact(`contact ${JSON.stringify(c)} must not contain header fields (RFC 8555 §7.3)`);
    if (address.includes(',')) throw problems.invalidContact(`contact ${JSON.stringify(c)} must hold exactly one address`);
    if (!EMAIL.test(address)) throw problems.invalidContact(`contact ${JSON.stringify(c)} is not a valid email address`);
    out.push(`mailto:${address}`);
  }
  return out;
}
