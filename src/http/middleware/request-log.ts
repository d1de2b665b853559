/** One structured log line per request, with its id, status, duration and problem type. */
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';

export function requestLog(log: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      if (!log.isLevelEnabled('info')) return;
      log.info(
        {
          requestId: res.locals.requestId,
          method: req.method,
          path: req.path,
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          ...(res.locals.problem ? { problem: res.locals.problem } : {}),
        },
        'request',
      );
    });
    next();
  };
}
