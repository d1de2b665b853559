import { randomBytes } from 'node:crypto';

/** A random, URL-safe record id (96 bits): unguessable, so URLs do not leak counts. */
export function newId(): string {
  return randomBytes(12).toString('base64url');
}
