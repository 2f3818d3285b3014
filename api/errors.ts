// The one error convention (issue #15): every error a part raises on
// purpose carries a stable snake_case `code`, the same string in logs
// (`err.code`), metric labels, the proxy's `skein-proxy-error` header and
// CLI messages, so a user can search for it and a program can switch on it.
// Subclasses name their code as a readonly field, as undici's errors do.
export abstract class SkeinError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Codes are lower snake_case words: `invalid_settings`, `lease_conflict`. */
export const ERROR_CODE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;

/** The message of anything thrown, for a sentence a user reads; logs take the whole error (`log.warn({ err })`) to keep its stack and code. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
