/** The process logger: pino JSON lines on stdout. */
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'anvil' },
    // Defence in depth: these fields must never be logged, but if one is, it is redacted.
    redact: {
      paths: ['passphrase', '*.passphrase', 'privateKey', '*.privateKey', 'hmacKey', '*.hmacKey', 'token', '*.token', 'authorization', '*.authorization'],
      censor: '[redacted]',
    },
  });
}
