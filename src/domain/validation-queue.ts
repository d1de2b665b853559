/**
 * Runs challenge validations off the request path: a challenge moves to `processing` in the
 * request, and this queue validates it with a bounded number of workers and a timeout, then
 * stores the outcome (with what was tried) in one transaction. Challenges found `processing`
 * at start (a crash mid-validation) are validated again.
 */
import type { Logger } from 'pino';
import { AcmeProblem, problems, type AcmeErrorType } from '../acme/problem.js';
import { metrics } from '../ops/metrics.js';
import { CHALLENGE_CLAIM_MS } from '../store/shared/claims.js';
import type { Store } from '../store/store.js';
import { AUTHZ_EXPIRES_BY, ValidationFailure, type ValidationRecord, type ValidatorRegistry } from '../validators/validator.js';

export interface ValidationQueueOptions {
  store: Store;
  validators: ValidatorRegistry;
  log: Logger;
  concurrency: number;
  timeoutMs: number;
  validAuthzLifetimeMs: number;
  accountUrl(accountId: string): string;
}

/** How long a taken-over validation is claimed (the store claims a started one as long); renewed while queued or running. */
const CLAIM_MS = CHALLENGE_CLAIM_MS;

export class ValidationQueue {
  private readonly waiting: string[] = [];
  private readonly queued = new Set<string>();
  /** Responses posted to challenges (e.g. a token), kept in memory only: never stored or logged. */
  private readonly responses = new Map<string, unknown>();
  private running = 0;
  private idleWaiters: (() => void)[] = [];
  private stopped = false;
  private sweeper: NodeJS.Timeout | undefined;
  private renewer: NodeJS.Timeout | undefined;

  constructor(private readonly o: ValidationQueueOptions) {}

  enqueue(challengeId: string, response?: unknown): void {
    if (this.stopped || this.queued.has(challengeId)) return;
    if (response !== undefined) this.responses.set(challengeId, response);
    this.queued.add(challengeId);
    this.waiting.push(challengeId);
    this.keepClaims();
    this.pump();
  }

  /**
   * While validations are queued or running, renews their claims every third of the claim's
   * life: a claim lapses (and another process or instance takes the validation over) only when
   * this process is gone, however long a validation waits or runs.
   */
  private keepClaims(): void {
    if (this.renewer || this.stopped) return;
    this.renewer = setTimeout(() => {
      const ids = [...this.queued];
      const renewed = ids.length > 0 ? this.o.store.renewChallengeClaims(ids, new Date(Date.now() + CLAIM_MS)) : Promise.resolve();
      renewed
        .catch((e) => this.o.log.warn({ err: (e as Error).message, validations: ids.length }, 'renewing validation claims failed'))
        .finally(() => {
          this.renewer = undefined;
          if (this.queued.size > 0) this.keepClaims();
        });
    }, CLAIM_MS / 3);
    this.renewer.unref();
  }

  /**
   * Takes over validations whose process died: claims every `processing` challenge whose claim
   * has lapsed (with `soleProcess`, every one: nobody else can be running it) and queues it.
   */
  async resume(soleProcess = false): Promise<number> {
    const before = soleProcess ? new Date(8.64e15) : new Date();
    let total = 0;
    for (;;) {
      const ids = await this.o.store.claimStaleChallenges(before, CLAIM_MS, 500);
      for (const id of ids) this.enqueue(id);
      total += ids.length;
      if (ids.length < 500 || this.stopped) return total;
    }
  }

  /** Looks for lapsed claims (another process or instance died mid-validation) every `intervalMs`. */
  startSweeper(intervalMs = 5_000): void {
    const sweep = () => {
      this.sweeper = setTimeout(() => {
        this.resume()
          .then((n) => n > 0 && this.o.log.info({ validations: n }, 'took over validations whose process stopped'))
          .catch((e) => this.o.log.warn({ err: (e as Error).message }, 'validation takeover sweep failed'))
          .finally(() => !this.stopped && sweep());
      }, intervalMs);
      this.sweeper.unref();
    };
    sweep();
  }

  /** Stops taking work and waits (bounded) for running validations to finish. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.stopped = true;
    if (this.sweeper) clearTimeout(this.sweeper);
    if (this.renewer) clearTimeout(this.renewer);
    this.renewer = undefined;
    this.waiting.length = 0;
    if (this.running === 0) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private pump(): void {
    while (this.running < this.o.concurrency && this.waiting.length > 0) {
      const id = this.waiting.shift()!;
      this.running++;
      void this.validate(id)
        .catch((e) => this.o.log.error({ challengeId: id, err: (e as Error).message }, 'validation bookkeeping failed'))
        .finally(() => {
          this.running--;
          this.queued.delete(id);
          this.responses.delete(id);
          if (this.running === 0 && this.waiting.length === 0) {
            for (const w of this.idleWaiters.splice(0)) w();
          }
          this.pump();
        });
    }
  }

  private async validate(challengeId: string): Promise<void> {
    const { store, validators, log } = this.o;
    const challenge = await store.getChallenge(challengeId);
    if (!challenge || challenge.status !== 'processing') return;
    const authz = await store.getAuthz(challenge.authzId);
    const account = authz && (await store.getAccount(authz.accountId));
    if (!authz || !account) return;
    const validator = validators.get(challenge.type);
    const started = Date.now();
    let records: ValidationRecord[] = [];
    let failure: AcmeProblem | undefined;
    if (!validator) {
      failure = problems.serverInternal(`challenge type ${challenge.type} is no longer available`);
    } else {
      try {
        records = await validator.validate({
          identifier: authz.identifier,
          wildcard: authz.wildcard,
          token: challenge.token,
          keyAuthorization: `${challenge.token}.${account.thumbprint}`,
          accountId: account.id,
          accountUrl: this.o.accountUrl(account.id),
          accountThumbprint: account.thumbprint,
          response: this.responses.get(challengeId),
          signal: AbortSignal.timeout(this.o.timeoutMs),
        });
      } catch (e) {
        if (e instanceof ValidationFailure) records = e.records;
        failure = toProblem(e);
        if (!failure) {
          log.error({ challengeId, type: challenge.type, err: (e as Error)?.message }, 'validator threw an error without an ACME type');
          failure = problems.serverInternal('validation failed unexpectedly');
        }
      }
    }
    // Every validation leaves a record, even from a validator that reported nothing of its own.
    const base = records.length > 0 ? records : [{ validator: challenge.type, identifier: authz.identifier.value }];
    const stamped = base.map((r) => ({ ...r, validatedAt: new Date(started).toISOString() }));
    const result = failure ? 'invalid' : 'valid';
    metrics.validations.inc({ type: challenge.type, result });
    metrics.authorizationsFinal.inc({ status: result });
    // A failed validation makes the orders holding this authorization invalid (§7.1.6).
    if (failure) metrics.ordersFinal.inc({ status: 'invalid' });
    await store.recordValidation(challengeId, {
      status: failure ? 'invalid' : 'valid',
      error: failure ? failure.toDocument() : null,
      validationRecord: stamped,
      authzExpiresAt: authzExpiry(records, Date.now() + this.o.validAuthzLifetimeMs),
    });
    log.info(
      { challengeId, type: challenge.type, identifier: authz.identifier.value, result: failure ? 'invalid' : 'valid', problem: failure?.type, ms: Date.now() - started },
      'validation finished',
    );
  }
}

/** The configured lifetime, capped by any record that says its evidence expires sooner. */
function authzExpiry(records: ValidationRecord[], configured: number): Date {
  const caps = records.map((r) => Date.parse(String(r[AUTHZ_EXPIRES_BY] ?? ''))).filter((t) => Number.isFinite(t));
  return new Date(Math.min(configured, ...caps));
}

const VALIDATION_ERROR_TYPES = new Set(['unauthorized', 'incorrectResponse', 'connection', 'dns', 'tls', 'rejectedIdentifier', 'caa']);

/**
 * An AcmeProblem as is; an Error from an operator module carrying `acmeType` (one of the
 * validation error types) becomes that problem; anything else is not a validation verdict.
 */
function toProblem(e: unknown): AcmeProblem | undefined {
  if (e instanceof AcmeProblem) return e;
  const type = (e as { acmeType?: unknown })?.acmeType;
  if (e instanceof Error && typeof type === 'string' && VALIDATION_ERROR_TYPES.has(type)) {
    return new AcmeProblem(type as AcmeErrorType, e.message.slice(0, 500));
  }
  return undefined;
}
