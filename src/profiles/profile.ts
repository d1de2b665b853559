/**
 * A certificate profile: what certificates issued under it look like and what orders may ask
 * for. One file per profile in acme-profiles/ (YAML or JSON); the file name is the profile name.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ALL_LEAF_KEY_TYPES, type KeyType } from '../ca/algorithms.js';
import { EKU_OIDS, KEY_USAGE_FLAGS, type EkuName, type KeyUsageName } from '../ca/extensions.js';
import { parseDuration } from '../config/settings.js';

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
  maxIdentifiers: number;
  /** Whether certificates carry an OCSP URL (AIA) and a CRL Distribution Point. */
  revocationInfo: { ocsp: boolean; crl: boolean };
  /** SHA-256 of the file's bytes, recorded with each certificate issued under this version. */
  hash: string;
}

const duration = (what: string) =>
  z.string().refine((v) => parseDuration(v) !== undefined, { message: `${what} must be a duration such as 1h, 24h, 7d` });

const ProfileFile = z
  .object({
    description: z.string().min(1),
    validity: duration('validity'),
    backdate: duration('backdate').default('1m'),
    keyTypes: z.array(z.enum(ALL_LEAF_KEY_TYPES)).min(1).default([...ALL_LEAF_KEY_TYPES]),
    keyUsage: z.array(z.enum(Object.keys(KEY_USAGE_FLAGS) as [KeyUsageName, ...KeyUsageName[]])).min(1).default(['digitalSignature']),
    rsaKeyEncipherment: z.boolean().default(true),
    extendedKeyUsage: z.array(z.enum(Object.keys(EKU_OIDS) as [EkuName, ...EkuName[]])).default(['serverAuth']),
    commonName: z.enum(['first', 'none']).default('first'),
    challenges: z.array(z.string().min(1)).min(1).default(['http-01']),
    maxIdentifiers: z.number().int().min(1).max(1000).default(100),
    revocationInfo: z.object({ ocsp: z.boolean().default(true), crl: z.boolean().default(true) }).strict().default({ ocsp: true, crl: true }),
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
  return {
    name,
    description: p.description,
    validityMs,
    backdateMs: parseDuration(p.backdate)!,
    keyTypes: p.keyTypes,
    keyUsage: p.keyUsage,
    rsaKeyEncipherment: p.rsaKeyEncipherment,
    extendedKeyUsage: p.extendedKeyUsage,
    commonName: p.commonName,
    challenges: p.challenges,
    maxIdentifiers: p.maxIdentifiers,
    revocationInfo: p.revocationInfo,
    hash: createHash('sha256').update(bytes).digest('hex'),
  };
}
