/**
 * A certificate profile: what certificates issued under it look like and what orders may ask
 * for. One file per profile in acme-profiles/ (YAML or JSON); the file name is the profile name.
 * The schema is documented in README.md ("Profiles"); every field is checked here and an error
 * names the field.
 */
import { createHash } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { ALL_LEAF_KEY_TYPES, type KeyType } from '../ca/algorithms.js';
import type { EkuName, KeyUsageName } from '../ca/extensions.js';
import { parseDuration } from '../config/settings.js';

export interface IdentifierPolicy {
  /** DNS names must end with one of these (e.g. `.internal`); empty = any name. */
  dnsSuffixes: string[];
  /** DNS names must match one of these anchored regular expressions; empty = no pattern rule. */
  dnsPatterns: RegExp[];
  wildcards: boolean;
  allowIp: boolean;
  /** IP identifiers must fall in one of these CIDR ranges; empty = any address. */
  ipRanges: string[];
  ipBlockList: BlockList | undefined;
  maxPerOrder: number;
}

export interface Profile {
  name: string;
  description: string;
  validityMs: number;
  backdateMs: number;
  keyTypes: KeyType[];
  keyUsage: KeyUsageName[];
  /** Add keyEncipherment for RSA subject keys (TLS 1.2 RSA key exchange). */
  rsaKeyEncipherment: boolean;
  extendedKeyUsage: EkuName[];
  /** `first`: CN = the first identifier (when ≤ 64 characters); `none`: empty subject. */
  commonName: 'first' | 'none';
  challenges: string[];
  identifiers: IdentifierPolicy;
  /** Issuer id from the CA manifest, or `active` for the issuer currently issuing. */
  issuer: string;
  /** Whether certificates carry an OCSP URL (AIA) and a CRL Distribution Point. */
  revocationInfo: { ocsp: boolean; crl: boolean };
  /** ARI (RFC 9773) suggested window, as fractions of the lifetime after notBefore. */
  renewalWindow: { start: number; end: number };
  /** `open`: any account; `eab`: only accounts created with External Account Binding. */
  access: 'open' | 'eab';
  /** Whether a new order may reuse the account's valid authorizations (false: every order validates afresh). */
  authzReuse: boolean;
  /** SHA-256 of the file's bytes, recorded with each certificate issued under this version. */
  hash: string;
}

const LEAF_KEY_USAGES = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement'] as const satisfies readonly KeyUsageName[];
const LEAF_EKUS = ['serverAuth', 'clientAuth', 'codeSigning', 'emailProtection', 'timeStamping'] as const satisfies readonly EkuName[];

const duration = (what: string) =>
  z.string().refine((v) => parseDuration(v) !== undefined, { message: `${what} must be a duration such as 1h, 24h, 7d` });

const cidr = z.string().refine(
  (v) => {
    const [address, bits, extra] = v.split('/');
    const family = isIP(address ?? '');
    const n = Number(bits);
    return extra === undefined && family !== 0 && Number.isInteger(n) && n >= 0 && n <= (family === 4 ? 32 : 128);
  },
  { message: 'must be a CIDR range such as 10.0.0.0/8 or fd00::/8' },
);

const pattern = z.string().refine(
  (v) => {
    try {
      new RegExp(v);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be a valid regular expression' },
);

const fraction = z.number().gt(0).lt(1);

const ProfileFile = z
  .object({
    description: z.string().min(1),
    validity: duration('validity'),
    backdate: duration('backdate').default('1m'),
    keyTypes: z.array(z.enum(ALL_LEAF_KEY_TYPES)).min(1).default([...ALL_LEAF_KEY_TYPES]),
    // End-entity key usages only: keyCertSign/cRLSign belong to CA certificates (RFC 5280 §4.2.1.3).
    keyUsage: z.array(z.enum(LEAF_KEY_USAGES)).min(1).default(['digitalSignature']),
    rsaKeyEncipherment: z.boolean().default(true),
    extendedKeyUsage: z.array(z.enum(LEAF_EKUS)).default(['serverAuth']),
    commonName: z.enum(['first', 'none']).default('first'),
    challenges: z.array(z.string().min(1)).min(1).default(['http-01']),
    identifiers: z
      .object({
        dnsSuffixes: z.array(z.string().regex(/^\.?[a-z0-9.-]+$/, 'must be a lower-case DNS suffix such as .internal')).default([]),
        dnsPatterns: z.array(pattern).default([]),
        wildcards: z.boolean().default(true),
        allowIp: z.boolean().default(true),
        ipRanges: z.array(cidr).default([]),
        maxPerOrder: z.number().int().min(1).max(1000).default(100),
      })
      .strict()
      .default({ dnsSuffixes: [], dnsPatterns: [], wildcards: true, allowIp: true, ipRanges: [], maxPerOrder: 100 }),
    issuer: z.string().min(1).default('active'),
    revocationInfo: z.object({ ocsp: z.boolean().default(true), crl: z.boolean().default(true) }).strict().default({ ocsp: true, crl: true }),
    renewalWindow: z
      .object({ start: fraction, end: fraction })
      .strict()
      .refine((w) => w.start < w.end, { message: 'start must be before end' })
      .default({ start: 2 / 3, end: 0.75 }),
    access: z.enum(['open', 'eab']).default('open'),
    authzReuse: z.boolean().default(true),
  })
  .strict();

/** Validates one profile file's parsed content; errors name the field. */
export function parseProfile(name: string, content: unknown, bytes: Uint8Array): Profile {
  const parsed = ProfileFile.safeParse(content);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    throw new Error(`field ${field}: ${issue.message}`);
  }
  const p = parsed.data;
  const validityMs = parseDuration(p.validity)!;
  if (validityMs < 60_000) throw new Error('field validity: must be at least 1m');
  const backdateMs = parseDuration(p.backdate)!;
  if (backdateMs >= validityMs) throw new Error('field backdate: must be shorter than validity');
  const ids = p.identifiers;
  let ipBlockList: BlockList | undefined;
  if (ids.ipRanges.length > 0) {
    ipBlockList = new BlockList();
    for (const range of ids.ipRanges) {
      const [address, bits] = range.split('/') as [string, string];
      ipBlockList.addSubnet(address, Number(bits), isIP(address) === 4 ? 'ipv4' : 'ipv6');
    }
  }
  return {
    name,
    description: p.description,
    validityMs,
    backdateMs,
    keyTypes: p.keyTypes,
    keyUsage: p.keyUsage,
    rsaKeyEncipherment: p.rsaKeyEncipherment,
    extendedKeyUsage: p.extendedKeyUsage,
    commonName: p.commonName,
    challenges: p.challenges,
    identifiers: {
      dnsSuffixes: ids.dnsSuffixes.map((s) => (s.startsWith('.') ? s : `.${s}`)),
      dnsPatterns: ids.dnsPatterns.map((s) => new RegExp(`^(?:${s})$`)),
      wildcards: ids.wildcards,
      allowIp: ids.allowIp,
      ipRanges: ids.ipRanges,
      ipBlockList,
      maxPerOrder: ids.maxPerOrder,
    },
    issuer: p.issuer,
    revocationInfo: p.revocationInfo,
    renewalWindow: p.renewalWindow,
    access: p.access,
    authzReuse: p.authzReuse,
    hash: createHash('sha256').update(bytes).digest('hex'),
  };
}
