// skein-init's failures: a stable code (also the exit status) and a message
// that says what to change in the pod or the image. The init container's
// terminationMessagePolicy is FallbackToLogsOnError, so this line is what
// `kubectl describe pod` shows.
import { SkeinError } from '../../api/errors.ts';

export const EXIT_STATUS = {
  usage_error: 2,
  iptables_missing: 3,
  permission_denied: 4,
  restore_failed: 5,
} as const;

export type InitErrorCode = keyof typeof EXIT_STATUS;

export class InitError extends SkeinError {
  readonly code: InitErrorCode;
  constructor(code: InitErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

export function describeFailure(err: InitError): string {
  return `skein-init: ${err.code}: ${err.message}`;
}
