/**
 * The challenge validator contract and its registry. Each challenge type is a module that
 * registers itself by its type string; the profile decides which registered types an order
 * is offered. Adding a type never edits a switch.
 */
import type { Identifier } from '../acme/problem.js';
import { AcmeProblem } from '../acme/problem.js';

export interface ValidationRequest {
  identifier: Identifier;
  wildcard: boolean;
  token: string;
  /** token || '.' || base64url(JWK thumbprint) (RFC 8555 §8.1). */
  keyAuthorization: string;
  accountId: string;
  /** The account URL (RFC 8555 §7.3), e.g. for dns-persist-01's accounturi. */
  accountUrl: string;
  accountThumbprint: string;
  /** What the client posted to the challenge, for types that take a response (e.g. tkauth-01). */
  response?: unknown;
  /** Aborted when the validation's time is up. */
  signal: AbortSignal;
}

/** What a validator may add to its challenge objects (RFC 8555 §8: type-specific fields). */
export interface ChallengeContext {
  accountUrl: string;
}

/** What the validator did (addresses, URLs, hostnames): stored with the challenge. */
export type ValidationRecord = Record<string, unknown>;

/** A record may carry this (an ISO time) to cap the expiry of the authorization it validates. */
export const AUTHZ_EXPIRES_BY = 'authorizationExpiresBy';

/** A failed validation: an ACME problem plus the record of what was tried. */
export class ValidationFailure extends AcmeProblem {
  constructor(
    problem: AcmeProblem,
    readonly records: ValidationRecord[],
  ) {
    super(problem.type, problem.message, { status: problem.status });
  }
}

export interface Validator {
  readonly type: string;
  /** Whether this challenge type can prove control of the identifier (e.g. http-01: no wildcards). */
  supports(identifier: Identifier, wildcard: boolean): boolean;
  /** Resolves with the records on success; throws ValidationFailure (or any AcmeProblem) on failure. */
  validate(request: ValidationRequest): Promise<ValidationRecord[]>;
  /** Type-specific fields of the challenge object. */
  describe?(context: ChallengeContext): Record<string, unknown>;
  /** True for types whose challenge object carries no `token` (e.g. dns-persist-01). */
  readonly tokenless?: boolean;
  /**
   * Checks the payload a client posts to the challenge and returns what `validate` receives as
   * `response`; throws a malformed problem for a wrong shape. Types without it accept `{}` only.
   */
  acceptResponse?(payload: Record<string, unknown>): unknown;
}

export class ValidatorRegistry {
  private readonly byType = new Map<string, Validator>();

  register(validator: Validator): void {
    if (this.byType.has(validator.type)) throw new Error(`a validator for ${validator.type} is already registered`);
    this.byType.set(validator.type, validator);
  }

  get(type: string): Validator | undefined {
    return this.byType.get(type);
  }

  types(): string[] {
    return [...this.byType.keys()];
  }

  /** Of the allowed types, those registered that can prove this identifier, in the allowed order. */
  typesFor(identifier: Identifier, wildcard: boolean, allowed: readonly string[]): string[] {
    return allowed.filter((t) => this.byType.get(t)?.supports(identifier, wildcard) === true);
  }
}
