// Per-pod proxy configuration from `config.skein.dev/*` annotations on the
// namespace or the pod (the pod wins). Every value is checked; a bad one is
// reported with what to write instead, and the default is used: a typo never
// breaks a pod or the webhook.
import { z } from 'zod';
import { CONFIG_PREFIX } from '../../shared/mesh-names.ts';
import { parsePortRanges, type PortRange } from '../../shared/port-ranges.ts';

// Kept here too: the injector's modules import port ranges from their config.
export { parsePortRanges, formatPortRanges, type PortRange } from '../../shared/port-ranges.ts';

export interface ProxyConfig {
  image: string;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  logFormat: 'plain' | 'json';
  skipInboundPorts: PortRange[];
  skipOutboundPorts: PortRange[];
  opaquePorts: PortRange[];
  cpuRequest: string;
  cpuLimit: string | undefined;
  memoryRequest: string;
  memoryLimit: string | undefined;
  await: boolean;
  nativeSidecar: boolean;
  adminShutdown: boolean;
  shutdownGracePeriodSeconds: number;
  defaultInboundPolicy: 'all-unauthenticated' | 'all-authenticated' | 'cluster-authenticated' | 'deny';
}

export const DEFAULTS: ProxyConfig = {
  image: 'skein.dev/proxy:v0.1.0',
  logLevel: 'info',
  logFormat: 'json',
  skipInboundPorts: [],
  skipOutboundPorts: [],
  // Server-speaks-first protocols: detection would only add a timeout.
  opaquePorts: [25, 587, 3306, 4444, 4567, 4568, 5432, 6379, 9300, 11211].map((p) => ({ from: p, to: p })),
  cpuRequest: '20m',
  cpuLimit: undefined,
  // Measured (issue #18): `skein-proxy` idles at 84 MiB RSS (31 anonymous +
  // 54 file-backed, most of that the node binary, shared page cache on a
  // node) with a warm compile cache, 107 MiB with a cold one; bench/proxy.ts
  // peaks at 111-116 MiB per hop under saturation. The request is what an
  // idle proxy uses with some room; the limit keeps room for a busy pod and
  // sizes the connection caps (config.ts), so it stays.
  memoryRequest: '96Mi',
  memoryLimit: '256Mi',
  await: true,
  nativeSidecar: true,
  adminShutdown: false,
  shutdownGracePeriodSeconds: 30,
  defaultInboundPolicy: 'all-unauthenticated',
};

/**
 * Native sidecars (init containers with restartPolicy: Always) are on by
 * default from Kubernetes 1.29; on older API servers classic mode is the default.
 */
export function supportsNativeSidecars(gitVersion: string): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(gitVersion);
  return m !== null && (Number(m[1]) > 1 || Number(m[2]) >= 29);
}

const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/;

/**
 * More ranges than this (after merging) is refused: skein-init writes one
 * iptables rule per 15 and the proxy's environment carries the list, so
 * "1,2,3,…" over 256 KiB of annotation would cost thousands of rules.
 */
export const MAX_PORT_RANGES = 64;

/** Sorted, with overlapping and adjacent ranges merged: `3,1,2,10-20,15-25` is `1-3,10-25`. */
export function mergePortRanges(ranges: readonly PortRange[]): PortRange[] {
  const merged: PortRange[] = [];
  for (const r of [...ranges].sort((a, b) => a.from - b.from)) {
    const last = merged[merged.length - 1];
    if (last && r.from <= last.to + 1) last.to = Math.max(last.to, r.to);
    else merged.push({ ...r });
  }
  return merged;
}

const ports = z.string().transform((v, ctx) => {
  try {
    const merged = mergePortRanges(parsePortRanges(v));
    if (merged.length > MAX_PORT_RANGES) throw new Error(`lists ${merged.length} separate ports or ranges; at most ${MAX_PORT_RANGES} are allowed, write neighbours as a range such as 8000-8100`);
    return merged;
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
const quantity = z.string().regex(QUANTITY, 'must be a Kubernetes quantity such as 100m, 0.5, 64Mi or 1Gi');
const onOff = z.enum(['enabled', 'disabled', 'true', 'false']).transform((v) => v === 'enabled' || v === 'true');
const seconds = z.string().regex(/^\d+s?$/, 'must be whole seconds, such as 30 or 30s').transform((v) => Number(v.replace(/s$/, '')));

/** Every override: its annotation (after `config.skein.dev/`), the field it sets, and what it accepts. */
const OVERRIDES = {
  'proxy-image': { field: 'image', schema: z.string().regex(/^[\w.\-/:@]+$/, 'must be an image reference such as registry.example.com/skein/proxy:v0.1.0') },
  'proxy-log-level': { field: 'logLevel', schema: z.enum(['trace', 'debug', 'info', 'warn', 'error']) },
  'proxy-log-format': { field: 'logFormat', schema: z.enum(['plain', 'json']) },
  'skip-inbound-ports': { field: 'skipInboundPorts', schema: ports },
  'skip-outbound-ports': { field: 'skipOutboundPorts', schema: ports },
  'opaque-ports': { field: 'opaquePorts', schema: ports },
  'proxy-cpu-request': { field: 'cpuRequest', schema: quantity },
  'proxy-cpu-limit': { field: 'cpuLimit', schema: quantity },
  'proxy-memory-request': { field: 'memoryRequest', schema: quantity },
  'proxy-memory-limit': { field: 'memoryLimit', schema: quantity },
  'proxy-await': { field: 'await', schema: onOff },
  'native-sidecar': { field: 'nativeSidecar', schema: onOff },
  'proxy-admin-shutdown': { field: 'adminShutdown', schema: onOff },
  'shutdown-grace-period': { field: 'shutdownGracePeriodSeconds', schema: seconds },
  'default-inbound-policy': { field: 'defaultInboundPolicy', schema: z.enum(['all-unauthenticated', 'all-authenticated', 'cluster-authenticated', 'deny']) },
} as const satisfies Record<string, { field: keyof ProxyConfig; schema: z.ZodType }>;

export const OVERRIDE_ANNOTATIONS: readonly string[] = Object.keys(OVERRIDES).map((k) => CONFIG_PREFIX + k);

export interface ConfigProblem {
  annotation: string;
  value: string;
  from: 'pod' | 'namespace';
  message: string;
}

function explain(err: z.ZodError): string {
  return err.issues.map((i) => i.message).join('; ');
}

export function resolveConfig(
  namespaceAnnotations: Record<string, string> | undefined,
  podAnnotations: Record<string, string> | undefined,
  defaults: ProxyConfig = DEFAULTS,
): { config: ProxyConfig; problems: ConfigProblem[] } {
  const config: ProxyConfig = { ...defaults };
  const problems: ConfigProblem[] = [];
  for (const [name, o] of Object.entries(OVERRIDES)) {
    const annotation = CONFIG_PREFIX + name;
    const podValue = podAnnotations?.[annotation];
    const value = podValue ?? namespaceAnnotations?.[annotation];
    if (value === undefined) continue;
    const parsed = o.schema.safeParse(value);
    if (parsed.success) {
      (config as unknown as Record<string, unknown>)[o.field] = parsed.data;
    } else {
      problems.push({ annotation, value: truncate(value), from: podValue !== undefined ? 'pod' : 'namespace', message: explain(parsed.error) });
    }
  }
  for (const prefixed of [...Object.keys(namespaceAnnotations ?? {}), ...Object.keys(podAnnotations ?? {})]) {
    if (prefixed.startsWith(CONFIG_PREFIX) && !OVERRIDE_ANNOTATIONS.includes(prefixed) && !problems.some((p) => p.annotation === prefixed)) {
      problems.push({
        annotation: prefixed, value: truncate((podAnnotations ?? {})[prefixed] ?? (namespaceAnnotations ?? {})[prefixed] ?? ''),
        from: podAnnotations?.[prefixed] !== undefined ? 'pod' : 'namespace',
        message: `unknown setting; known ones are ${OVERRIDE_ANNOTATIONS.map((a) => a.slice(CONFIG_PREFIX.length)).join(', ')}`,
      });
    }
  }
  return { config, problems };
}

/** Hostile values (huge, multi-line) are cut before they reach messages and Events. */
function truncate(v: string): string {
  const oneLine = v.replace(/[\r\n]+/g, ' ');
  return oneLine.length > 80 ? `${oneLine.slice(0, 77)}...` : oneLine;
}

export function describeProblem(p: ConfigProblem): string {
  return `${p.annotation}="${p.value}" on the ${p.from} is ignored (the default is used): ${p.message}`;
}
