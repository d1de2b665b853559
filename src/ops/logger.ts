/**
 * The process logger: pino JSON lines on stdout, or human-readable lines (pino-pretty) when
 * stdout is a terminal, so `npm start` is readable and a pipe or file gets JSON.
 */
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type { PrettyStream } from 'pino-pretty';

// Loaded only when a terminal needs it: every anvil command imports this module.
const require = createRequire(import.meta.url);

/** `auto`: pretty on a terminal, JSON otherwise. */
export type LogFormat = 'auto' | 'json' | 'pretty';

export function createLogger(level: string, format: LogFormat = 'auto', stdoutIsTty: boolean = process.stdout.isTTY === true): Logger {
  const options = {
    level,
    base: { service: 'anvil' },
    // Defence in depth: these fields must never be logged, but if one is, it is redacted.
    redact: {
      paths: ['passphrase', '*.passphrase', 'privateKey', '*.privateKey', 'hmacKey', '*.hmacKey', 'token', '*.token', 'authorization', '*.authorization'],
      censor: '[redacted]',
    },
  };
  const human = format === 'pretty' || (format === 'auto' && stdoutIsTty);
  // In-process and synchronous: a line is written before the next statement runs, as with JSON.
  if (!human) return pino(options);
  const pretty = require('pino-pretty') as (o: Record<string, unknown>) => PrettyStream;
  return pino(options, pretty({ sync: true, colorize: stdoutIsTty, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' }));
}
