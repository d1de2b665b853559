/**
 * Authorization and challenge actions (RFC 8555 §7.5): deactivation, and responding to a
 * challenge, which moves it to `processing` and hands it to the validation queue.
 */
import { checkPayload } from '../acme/payloads.js';
import { problems } from '../acme/problem.js';
import { metrics } from '../ops/metrics.js';
import type { Store } from '../store/store.js';
import type { AuthzRecord, ChallengeRecord } from '../store/types.js';
import type { ValidatorRegistry } from '../validators/validator.js';
import { authzStatus } from './status.js';

export interface ChallengeQueue {
  enqueue(challengeId: string, response?: unknown): void;
}

export class AuthorizationService {
  constructor(
    private readonly store: Store,
    private readonly queue: ChallengeQueue,
    private readonly validators: ValidatorRegistry,
  ) {}

  /** POST to an authorization: `{"status": "deactivated"}` deactivates it (§7.5.2). */
  async update(authz: AuthzRecord, payload: unknown): Promise<AuthzRecord> {
    if (payload === undefined) return authz;
    const status = checkPayload('authzUpdate', payload).status;
    if (status === undefined) return authz;
    if (status !== 'deactivated') throw problems.malformed('the only status a client may set on an authorization is "deactivated"');
    const current = authzStatus(authz, Date.now());
    if (current !== 'pending' && current !== 'valid') throw problems.malformed(`an authorization that is ${current} cannot be deactivated`);
    const updated = await this.store.deactivateAuthz(authz.id);
    if (!updated) throw problems.malformed('the authorization changed state; fetch it again');
    metrics.authorizationsFinal.inc({ status: 'deactivated' });
    return updated;
  }

  /**
   * POST to a challenge: an empty object starts validation (§7.5.1); POST-as-GET only reads.
   * Responding again to a challenge that is already processing or final returns it unchanged.
   */
  async respond(authz: AuthzRecord, challenge: ChallengeRecord, payload: unknown): Promise<ChallengeRecord> {
    if (payload === undefined) return challenge;
    const body = checkPayload('challengeResponse', payload);
    if (challenge.status !== 'pending') return challenge;
    const now = Date.now();
    const status = authzStatus(authz, now);
    if (status !== 'pending') throw problems.malformed(`the authorization is ${status}; its challenges can no longer be answered`);
    const validator = this.validators.get(challenge.type);
    const response = validator?.acceptResponse ? validator.acceptResponse(body) : undefined;
    if (await this.store.startChallenge(challenge.id, new Date(now))) this.queue.enqueue(challenge.id, response);
    return (await this.store.getChallenge(challenge.id))!;
  }
}
