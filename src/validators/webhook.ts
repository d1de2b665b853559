/**
 * A challenge type decided by the operator's own service: Anvil POSTs the identifier, account and
 * challenge as JSON to an HTTPS endpoint (TLS verified, optional private CA) and accepts or
 * refuses on its answer `{"approved": true|false, "detail": "..."}`. Each attempt has a timeout,
 * failures are retried with exponential backoff, and a circuit breaker opens after consecutive
 * failures so a slow or failing endpoint fails challenges fast instead of piling up work.
 */
import { request } from 'node:https';
import type { Identifier } from '../acme/problem.js';
import { AcmeProblem, problems } from '../acme/problem.js';
import { BodyTooLargeError, readBounded } from '../http/read-bounded.js';
import { CircuitBreaker } from '../ops/circuit-breaker.js';
import { ValidationFailure, type ValidationRecord, type ValidationRequest, type Validator } from './validator.js';

/** The most of an operator endpoint's answer that is read (it is a small JSON verdict). */
const MAX_ANSWER_BYTES = 16_384;

export interface WebhookOptions {
  type: string;
  url: string;
  /** PEM of the CA that signed the endpoint's certificate (default: the system's trust store). */
  ca?: string;
  timeoutMs: number;
  retries: number;
  backoffMs: number;
  breakerFailures: number;
  breakerCooldownMs: number;
  /** Static headers, e.g. an Authorization bearer for the endpoint. */
  headers: Record<string, string>;
  wildcards: boolean;
  identifierTypes: string[];
}

interface Answer {
  approved: boolean;
  detail?: string;
}

/** A transient failure of the endpoint (network, timeout, 5xx, bad body): worth a retry. */
class EndpointError extends Error {}

export class WebhookValidator implements Validator {
  readonly type: string;
  private readonly breaker: CircuitBreaker;

  constructor(private readonly o: WebhookOptions) {
    this.type = o.type;
    this.breaker = new CircuitBreaker(o.breakerFailures, o.breakerCooldownMs);
  }

  supports(identifier: Identifier, wildcard: boolean): boolean {
    return this.o.identifierTypes.includes(identifier.type) && (!wildcard || this.o.wildcards);
  }

  async validate(req: ValidationRequest): Promise<ValidationRecord[]> {
    const record: ValidationRecord = { url: this.o.url, attempts: 0 };
    try {
      if (!this.breaker.allow()) {
        record.circuit = 'open';
        throw problems.connection(`the ${this.type} approval service is failing; challenges fail fast until it recovers`);
      }
      const body = JSON.stringify({
        type: this.type,
        identifier: req.identifier,
        wildcard: req.wildcard,
        account: { id: req.accountId, url: req.accountUrl, thumbprint: req.accountThumbprint },
        challenge: { token: req.token },
      });
      let lastError = '';
      for (let attempt = 0; attempt <= this.o.retries; attempt++) {
        if (attempt > 0) await sleep(this.o.backoffMs * 2 ** (attempt - 1), req.signal);
        if (req.signal.aborted) break;
        record.attempts = attempt + 1;
        try {
          const answer = await this.post(body, req.signal);
          this.breaker.success();
          record.approved = answer.approved;
          if (!answer.approved) throw problems.unauthorized(`refused by the ${this.type} approval service${answer.detail ? `: ${answer.detail.slice(0, 200)}` : ''}`);
          return [record];
        } catch (e) {
          if (!(e instanceof EndpointError)) throw e;
          lastError = e.message;
        }
      }
      this.breaker.failure();
      throw problems.connection(`the ${this.type} approval service did not answer (${lastError || 'timeout'})`);
    } catch (e) {
      if (e instanceof AcmeProblem) throw new ValidationFailure(e, [record]);
      throw new ValidationFailure(problems.serverInternal('approval service call failed'), [record]);
    }
  }

  private post(body: string, outer: AbortSignal): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const signal = AbortSignal.any([outer, AbortSignal.timeout(this.o.timeoutMs)]);
      const req = request(
        this.o.url,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...this.o.headers },
          ca: this.o.ca,
          rejectUnauthorized: true,
          signal,
          agent: false,
        },
        (res) => {
          readBounded(res, MAX_ANSWER_BYTES).then((answer) => {
            if ((res.statusCode ?? 0) >= 500) return reject(new EndpointError(`HTTP ${res.statusCode}`));
            let parsed: unknown;
            try {
              parsed = JSON.parse(answer.toString('utf8'));
            } catch {
              return reject(new EndpointError('answer is not JSON'));
            }
            const approved = (parsed as { approved?: unknown }).approved;
            if (res.statusCode !== 200 || typeof approved !== 'boolean') {
              return reject(new EndpointError(`unexpected answer (HTTP ${res.statusCode})`));
            }
            const detail = (parsed as { detail?: unknown }).detail;
            resolve(typeof detail === 'string' ? { approved, detail } : { approved });
          }, (e: Error) => reject(new EndpointError(e instanceof BodyTooLargeError ? 'answer too large' : e.message)));
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) => reject(new EndpointError(signal.aborted ? 'timeout' : (e.code ?? e.message))));
      req.end(body);
    });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
