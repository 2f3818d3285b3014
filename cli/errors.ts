// Errors the user can act on: a stable code (for scripts and tests) and a
// message that says what to do. Anything else is a bug and shows its stack.

export type CliErrorCode =
  | 'Usage'
  | 'KubectlNotFound'
  | 'KubectlFailed'
  | 'InvalidYaml'
  | 'UnreadableInput'
  | 'InvalidIssuer'
  | 'UnsupportedDocument'
  | 'ScrapeFailed'
  | 'NamespaceNotFound'
  | 'PrometheusFailed';

export class CliError extends Error {
  readonly code: CliErrorCode;
  /** 2 for a command line the CLI cannot understand, 1 for everything else. */
  readonly exitCode: number;

  constructor(code: CliErrorCode, message: string) {
    super(message);
    this.code = code;
    this.exitCode = code === 'Usage' ? 2 : 1;
  }
}

export const usageError = (message: string, command?: string) =>
  new CliError('Usage', `${message}\nRun \`kubectl skein ${command ? `${command} ` : ''}--help\` for usage.`);
