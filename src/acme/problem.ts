/**
 * The one error type of the protocol edge: an RFC 7807 problem document with an ACME error type
 * (RFC 8555 §6.7). Anything thrown that is not an AcmeProblem becomes `serverInternal` without
 * its message, so internal causes never reach a client.
 */

export const ACME_ERROR_PREFIX = 'urn:ietf:params:acme:error:';

/** The ACME error types of RFC 8555 §6.7 plus later RFCs and drafts we serve. */
export type AcmeErrorType =
  | 'accountDoesNotExist'
  | 'alreadyRevoked'
  | 'alreadyReplaced'
  | 'badCSR'
  | 'badNonce'
  | 'badPublicKey'
  | 'badRevocationReason'
  | 'badSignatureAlgorithm'
  | 'caa'
  | 'compound'
  | 'connection'
  | 'dns'
  | 'externalAccountRequired'
  | 'incorrectResponse'
  | 'invalidContact'
  | 'invalidProfile'
  | 'malformed'
  | 'orderNotReady'
  | 'rateLimited'
  | 'rejectedIdentifier'
  | 'serverInternal'
  | 'tls'
  | 'unauthorized'
  | 'unsupportedContact'
  | 'unsupportedIdentifier'
  | 'userActionRequired';

export interface Identifier {
  type: string;
  value: string;
}

export interface Subproblem {
  type: AcmeErrorType;
  detail: string;
  identifier: Identifier;
}

/** The JSON body of a problem document as served. */
export interface ProblemDocument {
  type: string;
  detail: string;
  status: number;
  subproblems?: { type: string; detail: string; identifier: Identifier }[];
  algorithms?: string[];
  instance?: string;
}

export interface ProblemOptions {
  status?: number;
  subproblems?: Subproblem[];
  /** Extra response headers, e.g. Retry-After for rateLimited, Location for a key conflict. */
  headers?: Record<string, string>;
  /** badSignatureAlgorithm: the algorithms the server accepts (RFC 8555 §6.2). */
  algorithms?: string[];
  /** Link headers to add, e.g. a terms-of-service link for userActionRequired. */
  links?: string[];
  cause?: unknown;
}

const DEFAULT_STATUS: Record<AcmeErrorType, number> = {
  accountDoesNotExist: 400,
  alreadyRevoked: 400,
  alreadyReplaced: 409,
  badCSR: 400,
  badNonce: 400,
  badPublicKey: 400,
  badRevocationReason: 400,
  badSignatureAlgorithm: 400,
  caa: 403,
  compound: 403,
  connection: 400,
  dns: 400,
  externalAccountRequired: 403,
  incorrectResponse: 403,
  invalidContact: 400,
  invalidProfile: 400,
  malformed: 400,
  orderNotReady: 403,
  rateLimited: 429,
  rejectedIdentifier: 400,
  serverInternal: 500,
  tls: 400,
  unauthorized: 403,
  unsupportedContact: 400,
  unsupportedIdentifier: 400,
  userActionRequired: 403,
};

export class AcmeProblem extends Error {
  override readonly name = 'AcmeProblem';
  readonly type: AcmeErrorType;
  readonly status: number;
  readonly subproblems: Subproblem[];
  readonly headers: Record<string, string>;
  readonly algorithms: string[] | undefined;
  readonly links: string[];

  constructor(type: AcmeErrorType, detail: string, options: ProblemOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.type = type;
    this.status = options.status ?? DEFAULT_STATUS[type];
    this.subproblems = options.subproblems ?? [];
    this.headers = options.headers ?? {};
    this.algorithms = options.algorithms;
    this.links = options.links ?? [];
  }

  get detail(): string {
    return this.message;
  }

  toDocument(): ProblemDocument {
    const doc: ProblemDocument = { type: ACME_ERROR_PREFIX + this.type, detail: this.message, status: this.status };
    if (this.subproblems.length > 0) {
      doc.subproblems = this.subproblems.map((s) => ({ type: ACME_ERROR_PREFIX + s.type, detail: s.detail, identifier: s.identifier }));
    }
    if (this.algorithms) doc.algorithms = this.algorithms;
    return doc;
  }
}

/** A factory per error type, so call sites read `problems.badNonce('...')`. */
export const problems = {
  accountDoesNotExist: (detail: string) => new AcmeProblem('accountDoesNotExist', detail),
  alreadyRevoked: (detail: string) => new AcmeProblem('alreadyRevoked', detail),
  alreadyReplaced: (detail: string) => new AcmeProblem('alreadyReplaced', detail),
  badCSR: (detail: string) => new AcmeProblem('badCSR', detail),
  badNonce: (detail: string) => new AcmeProblem('badNonce', detail),
  badPublicKey: (detail: string) => new AcmeProblem('badPublicKey', detail),
  badRevocationReason: (detail: string) => new AcmeProblem('badRevocationReason', detail),
  badSignatureAlgorithm: (detail: string, algorithms: string[]) =>
    new AcmeProblem('badSignatureAlgorithm', detail, { algorithms }),
  connection: (detail: string) => new AcmeProblem('connection', detail),
  dns: (detail: string) => new AcmeProblem('dns', detail),
  externalAccountRequired: (detail: string) => new AcmeProblem('externalAccountRequired', detail),
  incorrectResponse: (detail: string) => new AcmeProblem('incorrectResponse', detail),
  invalidContact: (detail: string) => new AcmeProblem('invalidContact', detail),
  invalidProfile: (detail: string) => new AcmeProblem('invalidProfile', detail),
  malformed: (detail: string, status = 400) => new AcmeProblem('malformed', detail, { status }),
  notFound: (what: string) => new AcmeProblem('malformed', `${what} not found`, { status: 404 }),
  orderNotReady: (detail: string) => new AcmeProblem('orderNotReady', detail),
  rateLimited: (detail: string, retryAfterSeconds: number) =>
    new AcmeProblem('rateLimited', detail, { headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) } }),
  rejectedIdentifier: (detail: string, subproblems: Subproblem[] = []) =>
    new AcmeProblem('rejectedIdentifier', detail, { subproblems }),
  serverInternal: (detail: string, options: ProblemOptions = {}) => new AcmeProblem('serverInternal', detail, options),
  /** The store is unreachable for now (RFC 8555 has no type of its own): 503, and when to try again. */
  unavailable: (detail: string, retryAfterSeconds = 5) =>
    new AcmeProblem('serverInternal', detail, { status: 503, headers: { 'Retry-After': String(retryAfterSeconds) } }),
  tls: (detail: string) => new AcmeProblem('tls', detail),
  unauthorized: (detail: string) => new AcmeProblem('unauthorized', detail),
  unsupportedContact: (detail: string) => new AcmeProblem('unsupportedContact', detail),
  unsupportedIdentifier: (detail: string, subproblems: Subproblem[] = []) =>
    new AcmeProblem('unsupportedIdentifier', detail, { subproblems }),
  userActionRequired: (detail: string, links: string[] = []) => new AcmeProblem('userActionRequired', detail, { links }),
};

/**
 * Several identifiers refused for different reasons: RFC 8555 §6.7.1 says the top-level type is
 * the shared type when all agree, else `compound`... we use the first subproblem's type when all
 * share it, so clients that ignore subproblems still see a precise type.
 */
export function combineIdentifierProblems(detail: string, subproblems: Subproblem[]): AcmeProblem {
  const first = subproblems[0];
  if (!first) throw new Error('combineIdentifierProblems needs at least one subproblem');
  const sameType = subproblems.every((s) => s.type === first.type);
  if (subproblems.length === 1) return new AcmeProblem(first.type, `${detail}: ${first.detail}`, { subproblems });
  return new AcmeProblem(sameType ? first.type : 'compound', detail, { subproblems });
}
