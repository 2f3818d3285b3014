// A ServiceProfile compiled to what a proxy applies (api/discovery-protocol
// Profile): durations as milliseconds, the retry budget with its defaults
// filled in, conditions kept as written (the schema has checked them).
//
// dstOverrides (Linkerd's way of shifting a Service's traffic to other
// authorities by weight) compile to the same split a TrafficSplit does, and
// opaquePorts mark the called port opaque.
import type { V1Service } from '@kubernetes/client-node';
import type { Profile, Route, SplitBackend } from '../../api/discovery-protocol.ts';
import { parseDurationMs } from '../../api/duration.ts';
import { RETRY_BUDGET_DEFAULTS, parseServiceProfileSpec, type ServiceProfileSpecValue } from '../../api/crds/serviceprofile.ts';
import { parsePortRanges } from '../../api/port-ranges.ts';
import { quantityToMilli } from '../../api/quantity.ts';
import type { ClusterView } from '../discovery/cache.ts';
import { backendPort, splitBackend, type SplitConfig } from './split.ts';

/** The profile of the Service `name` in `namespace`: named after its FQDN, like Linkerd's. */
export const profileName = (service: string, namespace: string, clusterDomain: string): string => `${service}.${namespace}.svc.${clusterDomain}`;

export function compileProfile(name: string, spec: ServiceProfileSpecValue): Profile {
  const budget = spec.retryBudget ?? RETRY_BUDGET_DEFAULTS;
  return {
    name,
    routes: (spec.routes ?? []).map((r): Route => {
      const timeoutMs = r.timeout === undefined ? undefined : parseDurationMs(r.timeout);
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
      ttlMs: parseDurationMs(budget.ttl) ?? (parseDurationMs(RETRY_BUDGET_DEFAULTS.ttl) ?? 10_000),
    },
  };
}

/** The profile a proxy gets from an object's spec, or undefined when the spec is not Accepted. */
export function profileOf(name: string, spec: unknown): Profile | undefined {
  const parsed = parseServiceProfileSpec(spec);
  return parsed.ok ? compileProfile(name, parsed.spec) : undefined;
}

/** `name.namespace.svc.<clusterDomain>[:port]` (a trailing dot allowed), the form Linkerd writes; undefined for anything else. */
export function parseAuthority(authority: string, clusterDomain: string): { name: string; namespace: string; port?: number } | undefined {
  const m = /^(.*?)(?::([0-9]{1,5}))?$/.exec(authority);
  const host = (m?.[1] ?? '').replace(/\.$/, '');
  const port = m?.[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  const suffix = `.svc.${clusterDomain}`;
  if (!host.endsWith(suffix)) return undefined;
  const parts = host.slice(0, -suffix.length).split('.');
  const [name, namespace] = parts;
  if (parts.length !== 2 || !name || !namespace) return undefined;
  return { name, namespace, ...(port !== undefined ? { port } : {}) };
}

/** A dstOverrides weight in thousandths, as a quantity reads (1 = 1000, "500m" = 500); 0 when it is not one. */
export function overrideWeight(weight: string | number): number {
  try {
    return quantityToMilli(weight);
  } catch {
    return 0;
  }
}

/**
 * A profile's dstOverrides as a split of calls to `root:port`: each
 * authority resolved to its Service's endpoints (the authority's port, else
 * the root's port mapped as a TrafficSplit backend's is). An authority that
 * names no known Service keeps its weight with no endpoints, so the proxy
 * skips it. Undefined when there are none or every weight is 0.
 */
export function compileDstOverrides(view: ClusterView, root: V1Service, port: number, overrides: ServiceProfileSpecValue['dstOverrides'], cfg: SplitConfig): SplitBackend[] | undefined {
  if (!overrides || overrides.length === 0) return undefined;
  const rootPort = root.spec?.ports?.find((p) => p.port === port);
  const backends = overrides.map((o): SplitBackend => {
    const weight = overrideWeight(o.weight);
    const a = parseAuthority(o.authority, cfg.clusterDomain);
    if (!a) return { service: o.authority, weight, endpoints: [] };
    return splitBackend(view, a.namespace, a.name, weight, cfg, (svc) => a.port ?? backendPort(svc, rootPort, port), a.port ?? port);
  });
  return backends.some((b) => b.weight > 0) ? backends : undefined;
}

/** Whether the profile's opaquePorts name `port` (the schema has checked every range). */
export function isOpaquePort(spec: ServiceProfileSpecValue, port: number): boolean {
  return (spec.opaquePorts ?? []).some((text) => parsePortRanges(text).some((r) => port >= r.from && port <= r.to));
}
