// Per-pod proxy configuration from `config.skein.dev/*` annotations on the
// namespace or the pod (the pod wins). Every value is checked; a bad one is
// reported with what to write instead, and the default is used: a typo never
// breaks a pod or the webhook.
import { z } from 'zod';
import { CONFIG_PREFIX } from '../../api/mesh-names.ts';
import { DefaultInboundPolicy } from '../../api/discovery-protocol.ts';
import { onOff } from '../../api/on-off.ts';
import { mergePortRanges, parsePortRanges, type PortRange } from '../../api/port-ranges.ts';
import { quantitySchema as quantity } from '../../api/quantity.ts';
import { parseDurationMs } from '../../api/duration.ts';
import { LOG_FORMATS, LOG_LEVELS, SIDECAR_DEFAULTS, type LogFormat, type LogLevel } from '../../api/sidecar.ts';
import { imageRef, PROXY_IMAGE_ENV } from '../../shared/images.ts';

export interface ProxyConfig {
  image: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
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
  defaultInboundPolicy: DefaultInboundPolicy;
}

export const DEFAULTS: ProxyConfig = {
  image: imageRef('proxy'),
  logLevel: SIDECAR_DEFAULTS.logLevel,
  logFormat: SIDECAR_DEFAULTS.logFormat,
  skipInboundPorts: [],
  skipOutboundPorts: [],
  opaquePorts: [...SIDECAR_DEFAULTS.opaquePorts],
  cpuRequest: '20m',
  cpuLimit: undefined,
  // Measured (issue #18, `node bench/proxy.ts --bundled`, the proxy as the
  // image bundles it): `skein-proxy` idles at ~74 MiB RSS (27 anonymous + 47
  // file-backed, most of that the node binary, shared page cache on a node)
  // and peaks at 99-107 MiB per hop under saturation. The request is what an
  // idle proxy uses with some room; the limit keeps room for a busy pod and
  // sizes the connection caps (config.ts), so it stays.
  memoryRequest: '80Mi',
  memoryLimit: '256Mi',
  await: true,
  nativeSidecar: true,
  adminShutdown: SIDECAR_DEFAULTS.shutdownEndpoint,
  shutdownGracePeriodSeconds: SIDECAR_DEFAULTS.shutdownGracePeriodSeconds,
  defaultInboundPolicy: SIDECAR_DEFAULTS.defaultInboundPolicy,
};

/**
 * Native sidecars (init containers with restartPolicy: Always) are on by
 * default from Kubernetes 1.29; on older API servers classic mode is the default.
 */
export function supportsNativeSidecars(gitVersion: string): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(gitVersion);
  return m !== null && (Number(m[1]) > 1 || Number(m[2]) >= 29);
}

/**
 * More ranges than this (after merging) is refused: skein-init writes one
 * iptables rule per 15 and the proxy's environment carries the list, so
 * "1,2,3,…" over 256 KiB of annotation would cost thousands of rules.
 */
export const MAX_PORT_RANGES = 64;

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
const seconds = z.string().transform((v, ctx) => {
  const ms = parseDurationMs(v, { bareSeconds: true });
  if (ms === undefined || ms % 1000 !== 0) {
    ctx.addIssue({ code: 'custom', message: 'must be whole seconds, such as 30 or 30s' });
    return z.NEVER;
  }
  return ms / 1000;
});

/** Every override: its annotation (after `config.skein.dev/`), the field it sets, and what it accepts. */
const OVERRIDES = {
  'proxy-image': { field: 'image', schema: z.string().regex(/^[\w.\-/:@]+$/, 'must be an image reference such as registry.example.com/skein/proxy:v0.1.0') },
  'proxy-log-level': { field: 'logLevel', schema: z.enum(LOG_LEVELS) },
  'proxy-log-format': { field: 'logFormat', schema: z.enum(LOG_FORMATS) },
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
  'default-inbound-policy': { field: 'defaultInboundPolicy', schema: DefaultInboundPolicy },
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

/** The webhook's cluster-wide proxy settings: a JSON object of config.skein.dev/<name> settings (the Helm chart's proxyDefaults). */
export const PROXY_DEFAULTS_ENV = 'SKEIN_PROXY_DEFAULTS';

/**
 * The defaults with the cluster-wide proxy image and settings, each checked
 * as its annotation is: a bad one stops the webhook with what to write,
 * rather than every pod quietly getting something else.
 */
export function defaultsFromEnv(env: Readonly<Record<string, string | undefined>>, base: ProxyConfig = DEFAULTS): ProxyConfig {
  const value = env[PROXY_IMAGE_ENV];
  let defaults = base;
  if (value !== undefined && value !== '') {
    const parsed = OVERRIDES['proxy-image'].schema.safeParse(value);
    if (!parsed.success) throw new Error(`${PROXY_IMAGE_ENV}="${value}" ${parsed.error.issues[0]?.message ?? 'is not an image reference'}; fix the skein-webhook Deployment's environment`);
    defaults = { ...base, image: parsed.data };
  }
  const settings = env[PROXY_DEFAULTS_ENV];
  if (settings === undefined || settings === '') return defaults;
  const where = `${PROXY_DEFAULTS_ENV} (the chart's proxyDefaults) on the skein-webhook Deployment`;
  let object: unknown;
  try {
    object = JSON.parse(settings);
  } catch {
    throw new Error(`${where} is not JSON: write an object such as {"proxy-log-level":"debug"}`);
  }
  if (typeof object !== 'object' || object === null || Array.isArray(object) || Object.values(object).some((v) => typeof v !== 'string')) {
    throw new Error(`${where} must be a JSON object of strings, such as {"proxy-log-level":"debug"}`);
  }
  const annotations = Object.fromEntries(Object.entries(object as Record<string, string>).map(([k, v]) => [CONFIG_PREFIX + k, v]));
  const { config, problems } = resolveConfig(undefined, annotations, defaults);
  if (problems.length > 0) throw new Error(`${where}: ${problems.map((p) => `${p.annotation.slice(CONFIG_PREFIX.length)}="${p.value}": ${p.message}`).join('; ')}`);
  return config;
}
