// A ServiceProfile compiled to what a proxy applies (shared/discovery-protocol
// Profile): durations as milliseconds, the retry budget with its defaults
// filled in, conditions kept as written (the schema has checked them).
import type { Profile, Route } from '../../shared/discovery-protocol.ts';
import { RETRY_BUDGET_DEFAULTS, goDurationMs, parseServiceProfileSpec, type ServiceProfileSpecValue } from '../../crds/schema/serviceprofile.ts';

/** The profile of the Service `name` in `namespace`: named after its FQDN, like Linkerd's. */
export const profileName = (service: string, namespace: string, clusterDomain: string): string => `${service}.${namespace}.svc.${clusterDomain}`;

export function compileProfile(name: string, spec: ServiceProfileSpecValue): Profile {
  const budget = spec.retryBudget ?? RETRY_BUDGET_DEFAULTS;
  return {
    name,
    routes: (spec.routes ?? []).map((r): Route => {
      const timeoutMs = r.timeout === undefined ? undefined : goDurationMs(r.timeout);
      return {
        name: r.name,
        condition: r.condition,
        responseClasses: (r.responseClasses ?? []).map((c) => ({ condition: c.condition, isFailure: c.isFailure ?? false })),
        isRetryable: r.isRetryable ?? false,
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      };
    }),
    retryBudget: {
      retryRatio: budget.retryRatio,
      minRetriesPerSecond: budget.minRetriesPerSecond,
      ttlMs: goDurationMs(budget.ttl) ?? (goDurationMs(RETRY_BUDGET_DEFAULTS.ttl) ?? 10_000),
    },
  };
}

/** The profile a proxy gets from an object's spec, or undefined when the spec is not Accepted. */
export function profileOf(name: string, spec: unknown): Profile | undefined {
  const parsed = parseServiceProfileSpec(spec);
  return parsed.ok ? compileProfile(name, parsed.spec) : undefined;
}
