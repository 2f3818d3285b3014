// Structured JSON logs for every component, on pino (the logger fastify
// uses), so a component's own lines and its HTTP server's lines look alike.
// Secrets never go to logs: fields that could carry them are redacted.
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACTED_FIELDS = ['token', '*.token', 'authorization', '*.authorization', 'req.headers.authorization', 'key', '*.key', 'password', '*.password'];

export function createLogger(component: string, level = process.env.SKEIN_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: component, level, redact: { paths: REDACTED_FIELDS, censor: '[redacted]' } });
}
