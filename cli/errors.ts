// Errors the user can act on: a stable code (for scripts and tests) and a
// message that says what to do. Anything else is a bug and shows its stack.
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
  | 'prometheus_failed';

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
