// The one duration grammar: Go's time.ParseDuration, as Kubernetes users
// and Linkerd's ServiceProfiles write them (300ms, 2s, 1m30s, 1.5h). Where
// a bare number has always been accepted (the proxy's SKEIN_* variables,
// the shutdown-grace-period annotation) it counts seconds.
import { SkeinError } from './errors.ts';

const GO_DURATION = /^([0-9]{1,9}(\.[0-9]{1,9})?(ns|us|µs|ms|s|m|h))+$/;
const BARE_SECONDS = /^[0-9]{1,9}(\.[0-9]{1,9})?$/;
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

export interface DurationOptions {
  /** A number without a unit is seconds (`30` is `30s`). Off by default, as in Go. */
  bareSeconds?: boolean;
}

/** Milliseconds of a duration, or undefined when the text is not one. */
export function parseDurationMs(text: string, options: DurationOptions = {}): number | undefined {
  const t = text.trim();
  if (t.length > 64) return undefined;
  if (options.bareSeconds && BARE_SECONDS.test(t)) return Number(t) * 1_000;
  if (!GO_DURATION.test(t)) return undefined;
  let total = 0;
  for (const m of t.matchAll(/([0-9.]+)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 0);
  return total;
}

export class DurationError extends SkeinError {
  readonly code = 'invalid_duration';
}

/** Milliseconds of a duration; throws a DurationError saying what to write when it is not one. */
export function durationMs(text: string, options: DurationOptions = {}): number {
  const ms = parseDurationMs(text, options);
  if (ms === undefined) throw new DurationError(`"${text}" is not a duration such as 30s, 500ms or 2m`);
  return ms;
}
