// Errors the user can act on: a stable code (for scripts and tests) and a
// message that says what to do. Anything else is unexpected: main prints it
// as one line too (the stack only with SKEIN_DEBUG=1), never a Node trace.
import { SkeinError } from '../api/errors.ts';

export type CliErrorCode =
  | 'usage'
  | 'kubectl_not_found'
  | 'kubectl_failed'
  | 'invalid_yaml'
  | 'unreadable_input'
  | 'invalid_issuer'
  | 'unsupported_document'
  | 'scrape_failed'
  | 'namespace_not_found'
  | 'prometheus_failed'
  | 'no_kubeconfig'
  | 'unexpected_error';

export class CliError extends SkeinError {
  readonly code: CliErrorCode;
  /** 2 for a command line the CLI cannot understand, 1 for everything else. */
  readonly exitCode: number;

  constructor(code: CliErrorCode, message: string) {
    super(message);
    this.code = code;
    this.exitCode = code === 'usage' ? 2 : 1;
  }
}

export const usageError = (message: string, command?: string) =>
  new CliError('usage', `${message}\nRun \`kubectl skein ${command ? `${command} ` : ''}--help\` for usage.`);

/** One line for an error no command expected: the API server's own message when it gave one (its body is JSON). */
export function describeUnexpected(err: unknown): string {
  const e = err as { code?: unknown; body?: unknown; message?: unknown };
  if (typeof e.code === 'number' && e.body !== undefined) {
    let message = typeof e.body === 'string' ? e.body : JSON.stringify(e.body);
    try {
      const status = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as { message?: string };
      if (typeof status.message === 'string') message = status.message;
    } catch { /* not JSON: the body as it came */ }
    return `the API server answered HTTP ${e.code}: ${message}`;
  }
  const text = typeof e.message === 'string' ? e.message : String(err);
  return text.split('\n')[0] ?? text;
}
