/**
 * The JSON payload of every ACME request, field by field with its exact type (RFC 8555 §7.1–7.6,
 * RFC 9773 §5, draft-ietf-acme-profiles). A known field of the wrong type is `malformed` naming the
 * field and the type it must have — `"onlyReturnExisting": "true"` is not a boolean — before any
 * rule of the resource runs. Fields this CA does not know are ignored (§7.3.2: clients may post the
 * whole account object back), so a newer client's extension field never breaks a request.
 * Each field's semantic rules (contact URIs, identifier grammar, reasons, times) live with its
 * resource; this module only fixes the JSON shape.
 */
import { z } from 'zod';
import { problems } from './problem.js';

interface Field {
  schema: z.ZodType;
  /** What the field must be, for the problem detail. */
  must: string;
}

const string = { schema: z.string(), must: 'a string' };
const boolean = { schema: z.boolean(), must: 'a boolean' };
const stringArray = { schema: z.array(z.string()), must: 'an array of strings' };
const flattenedJws = { schema: z.looseObject({ protected: z.string(), payload: z.string(), signature: z.string() }), must: 'a flattened JWS object ({protected, payload, signature} strings)' };
const identifierArray = {
  schema: z.array(z.looseObject({ type: z.string(), value: z.string() })),
  must: 'an array of identifier objects, each with string "type" and "value"',
};

/** Field table per payload kind. */
const PAYLOADS = {
  newAccount: { contact: stringArray, termsOfServiceAgreed: boolean, onlyReturnExisting: boolean, externalAccountBinding: flattenedJws },
  // An account object posted back whole carries `status` and `orders` too (§7.1.2).
  accountUpdate: { contact: stringArray, status: string, termsOfServiceAgreed: boolean, orders: string, onlyReturnExisting: boolean },
  newOrder: { identifiers: identifierArray, notBefore: string, notAfter: string, profile: string, replaces: string },
  finalize: { csr: string },
  authzUpdate: { status: string },
  revokeCert: { certificate: string, reason: { schema: z.number().int(), must: 'an integer (an RFC 5280 CRLReason code)' } },
  keyChangeInner: { account: string, oldKey: { schema: z.looseObject({}), must: 'a JSON object (a JWK)' } },
  challengeResponse: {},
} satisfies Record<string, Record<string, Field>>;

export type PayloadKind = keyof typeof PAYLOADS;

const WHAT: Record<PayloadKind, string> = {
  newAccount: 'newAccount',
  accountUpdate: 'account update',
  newOrder: 'newOrder',
  finalize: 'finalize',
  authzUpdate: 'authorization update',
  revokeCert: 'revokeCert',
  keyChangeInner: 'keyChange inner JWS',
  challengeResponse: 'challenge response',
};

/**
 * The payload as an object whose known fields have their exact JSON types; `malformed` naming the
 * first field that does not (a field given as `null` is wrong too: absent fields are omitted).
 */
export function checkPayload(kind: PayloadKind, payload: unknown): Record<string, unknown> {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw problems.malformed(`${WHAT[kind]} payload must be a JSON object`);
  const body = payload as Record<string, unknown>;
  for (const [name, field] of Object.entries(PAYLOADS[kind]) as [string, Field][]) {
    if (!Object.hasOwn(body, name)) continue;
    if (!field.schema.safeParse(body[name]).success) throw problems.malformed(`${WHAT[kind]} field "${name}" must be ${field.must}`);
  }
  return body;
}
