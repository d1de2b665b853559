/**
 * The one error handler: AcmeProblem → problem document with its status and headers; body-parser
 * errors → malformed with their status; an unreachable store → 503 with Retry-After; anything else → serverInternal naming only the request
 * id, with the cause in the log.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { AcmeProblem, problems } from '../../acme/problem.js';
import { metrics } from '../../ops/metrics.js';
import { StoreUnavailableError } from '../../store/errors.js';
import { addLink } from './acme-headers.js';

export function sendProblem(res: Response, problem: AcmeProblem): void {
  for (const [name, value] of Object.entries(problem.headers)) res.setHeader(name, value);
  for (const link of problem.links) addLink(res, link);
  const doc = problem.toDocument();
  res.status(problem.status).type('application/problem+json').send(JSON.stringify(doc));
}

function fromBodyParser(err: { type?: string; status?: number }): AcmeProblem | undefined {
  if (err.type === 'entity.too.large') return problems.malformed('request body is too large', 413);
  if (err.type === 'request.aborted') return problems.malformed('request body was not received completely');
  if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) return problems.malformed('request body cannot be read', err.status);
  return undefined;
}

export function errorHandler(log: Logger) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    if (res.headersSent) return;
    let problem = err instanceof AcmeProblem ? err : fromBodyParser((err ?? {}) as { type?: string; status?: number });
    if (!problem && err instanceof StoreUnavailableError) {
      log.warn({ requestId: res.locals.requestId, err: err.message }, 'store unavailable');
      problem = problems.unavailable('the certificate store is unreachable for now; try again shortly');
    }
    if (!problem) {
      const requestId = String(res.locals.requestId ?? '');
      log.error({ requestId, err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) }, 'internal error');
      problem = problems.serverInternal(`internal error; the operator can find request ${requestId} in the log`);
    }
    res.locals.problem = problem.type;
    metrics.problems.inc({ type: problem.type });
    sendProblem(res, problem);
  };
}
