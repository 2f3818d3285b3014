// The sidecar contract: every SKEIN_* variable the injector writes on the
// skein-proxy container and the proxy reads at start, each with what the
// injector writes (its formatter), how the proxy reads it (a zod parser) and
// what an absent one means (its default). One entry per variable, so the
// two sides cannot drift: a written value's type is the type its parser
// returns, and a variable one side knows and the other does not cannot be
// written down. The proxy refuses a malformed value with a message naming
// the variable, because a proxy that guessed its identity or ports would
// fail later and less clearly.
import { isIP } from 'node:net';
import { z } from 'zod';
import type { V1EnvVar } from '@kubernetes/client-node';
import { DefaultInboundPolicy } from './discovery-protocol.ts';
import { parseDurationMs } from './duration.ts';
import { controlPlaneIdentity, identityName } from './identity-names.ts';
import {
  DISCOVERY_PORT, DISCOVERY_SERVICE, IDENTITY_PORT, IDENTITY_SERVICE, PORTS, PROXY_CONTAINER,
  TOKEN_MOUNT, TRUST_ROOTS_MOUNT, controlPlaneAddress,
} from './mesh-names.ts';
import { onOff, formatOnOff } from './on-off.ts';
import { formatPortRanges, parsePortRanges, type PortRange } from './port-ranges.ts';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['plain', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface HostPort { host: string; port: number }
export interface ProbeTarget { port: number; path: string }

/** What the injector decides for one pod, and the proxy reads back. */
export interface SidecarSettings {
  trustDomain: string;
  clusterDomain: string;
  /** Ports the app's containers serve. */
  appPorts: number[];
  /** The app's HTTP probes: admitted whatever the inbound policy, before discovery sends them too. */
  probes: ProbeTarget[];
  skipInboundPorts: PortRange[];
  skipOutboundPorts: PortRange[];
  /** Forwarded as plain TCP, without protocol detection. */
  opaquePorts: PortRange[];
  logLevel: LogLevel;
  logFormat: LogFormat;
  defaultInboundPolicy: DefaultInboundPolicy;
  shutdownEndpoint: boolean;
  shutdownGracePeriodMs: number;
}

/** The injector's defaults, which are also what the proxy assumes for a variable that is not set. */
export const SIDECAR_DEFAULTS = {
  trustDomain: 'cluster.local',
  clusterDomain: 'cluster.local',
  // Server-speaks-first protocols: detection would only add a timeout.
  opaquePorts: [25, 587, 3306, 4444, 4567, 4568, 5432, 6379, 9300, 11211].map((p) => ({ from: p, to: p })) as readonly PortRange[],
  logLevel: 'info' as LogLevel,
  logFormat: 'json' as LogFormat,
  defaultInboundPolicy: 'all-unauthenticated' as DefaultInboundPolicy,
  shutdownEndpoint: false,
  shutdownGracePeriodSeconds: 30,
} as const;

/** What one client may cost the proxy: a slowloris or a flood meets these before it meets the memory limit. */
export interface ProxyLimits {
  /** A peer's TLS handshake on the inbound port must finish within this (a cut ClientHello holds a socket until then). */
  tlsHandshakeTimeoutMs: number;
  /** An HTTP/1 request's headers must all arrive within this. */
  headersTimeoutMs: number;
  /** A connection with nothing in flight is closed after this. */
  idleMs: number;
  maxHeaderBytes: number;
  /** Open connections per listener (inbound, outbound); more are refused at accept. */
  maxConnectionsPerListener: number;
}

/** The limits when their variables are unset (and no memory limit sizes the connection cap). */
export const DEFAULT_LIMITS: ProxyLimits = {
  tlsHandshakeTimeoutMs: 3_000,
  headersTimeoutMs: 10_000,
  idleMs: 60_000,
  maxHeaderBytes: 64 * 1024,
  maxConnectionsPerListener: 10_000,
};

/** `host:port` or `[v6]:port`. */
export function parseHostPort(value: string): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value.trim());
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || host === undefined || port < 1 || port > 65535) throw new Error(`"${value}" is not host:port such as skein-identity.skein-system.svc.cluster.local:8080`);
  return { host, port };
}

/** A duration as SKEIN_* variables write it: `30s`, `500ms`, `2m`, or bare seconds (`30`). */
export function parseEnvDuration(value: string): number {
  const ms = parseDurationMs(value, { bareSeconds: true });
  if (ms === undefined) throw new Error(`"${value}" is not a duration such as 30s, 500ms or 2m`);
  return ms;
}

// Parsers: each takes the variable's text (undefined when unset) and gives the value or a message.
type Reader<T> = z.ZodType<T, string | undefined>;

const fromParser = <T>(parse: (v: string) => T) => z.string().transform((v, ctx) => {
  try { return parse(v); } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
const required = (what: string) => z.string({ error: `is not set; expected ${what}` }).trim().min(1, `is empty; expected ${what}`);
const portNumber = z.string().regex(/^\d{1,5}$/, 'must be a port number 1-65535').transform(Number).refine((p) => p >= 1 && p <= 65535, 'must be a port number 1-65535');
const portList = fromParser(parsePortRanges);
const singlePorts = fromParser((v) => parsePortRanges(v).flatMap((r) => Array.from({ length: r.to - r.from + 1 }, (_, i) => r.from + i)));
const probeShape = z.array(z.object({ port: z.number().int().min(1).max(65535), path: z.string().startsWith('/') }).strict());
const probeList = fromParser((v): ProbeTarget[] => {
  let json: unknown;
  try { json = JSON.parse(v); } catch { json = undefined; }
  const parsed = probeShape.safeParse(json);
  if (!parsed.success) throw new Error(`must be a JSON list such as [{"port":8080,"path":"/ready"}] (the injector writes it from the app's httpGet probes)`);
  return parsed.data;
});
// Zero would mean "no limit" to Node's timers: a limit is always on.
const timeout = fromParser(parseEnvDuration).refine((ms) => ms >= 1, 'must be a duration above zero, such as 3s or 500ms');
const count = (min: number, max: number) => z.string().regex(/^\d+$/, `must be a whole number ${min}-${max}`).transform(Number)
  .refine((n) => n >= min && n <= max, `must be a whole number ${min}-${max}`);
const dnsName = z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS name such as cluster.local');

/** Absent and empty are the same for optional variables: the injector writes empty lists as "". */
function optional<T>(schema: z.ZodType<T, string>, fallback: string): Reader<T> {
  return z.string().optional().transform((v) => (v === undefined || v.trim() === '' ? fallback : v)).pipe(schema);
}
/** Like optional, with no fallback: absent or empty is undefined, so the reader can tell "not set" from a value. */
function unset<T>(schema: z.ZodType<T, string>): Reader<T | undefined> {
  return z.string().optional().transform((v) => (v === undefined || v.trim() === '' ? undefined : v)).pipe(schema.optional());
}

/** How the injector writes one variable. */
type Writer =
  | { fieldPath: string }
  | { resource: 'limits.memory' }
  | { value: (s: SidecarSettings) => string };

interface Variable<T> { write?: Writer; read: Reader<T> }

/** From the downward API: the kubelet fills it in. */
const downward = <T>(fieldPath: string, read: Reader<T>): Variable<T> => ({ write: { fieldPath }, read });
/**
 * Written by the injector from the pod's settings: `pick` and `read` must
 * agree on the type, so the formatter and the parser cannot drift apart.
 */
const written = <T>(pick: (s: SidecarSettings) => T, format: (v: T) => string, read: Reader<T>): Variable<T> => ({ write: { value: (s) => format(pick(s)) }, read });
/** Written as a fixed template (kubelet `$(VAR)` references, contract names), read as text. */
const text = <T>(value: (s: SidecarSettings) => string, read: Reader<T>): Variable<T> => ({ write: { value }, read });
/** Not written by the injector: tuned by hand on the container, read with its default. */
const tuned = <T>(read: Reader<T>): Variable<T> => ({ read });

const same = (v: string) => v;
const hostPort = (h: HostPort) => `${h.host}:${h.port}`;
const controlPlaneAddr = (service: string, port: number) => (s: SidecarSettings): HostPort => parseHostPort(controlPlaneAddress(service, port, s.clusterDomain));

/**
 * Every variable, in the order the injector writes them. `trustDomain` is
 * the value SKEIN_TRUST_DOMAIN holds: the server names default from it.
 */
function variables(trustDomain: string) {
  return {
    SKEIN_POD_NAME: downward('metadata.name', required("the pod's name (fieldRef metadata.name)")),
    SKEIN_POD_NAMESPACE: downward('metadata.namespace', required("the pod's namespace (fieldRef metadata.namespace)")),
    SKEIN_POD_IP: downward('status.podIP', required("the pod's IP (fieldRef status.podIP)").refine((v) => isIP(v) !== 0, 'must be an IPv4 or IPv6 address')),
    SKEIN_NODE_NAME: downward('spec.nodeName', unset(z.string())),
    SKEIN_SERVICE_ACCOUNT: downward('spec.serviceAccountName', required("the pod's service account (fieldRef spec.serviceAccountName)")),
    // The kubelet expands the $(VAR) references; the proxy derives the same name when it is absent.
    SKEIN_IDENTITY_NAME: text((s) => identityName('$(SKEIN_SERVICE_ACCOUNT)', '$(SKEIN_POD_NAMESPACE)', s.trustDomain), unset(z.string().trim())),
    SKEIN_TRUST_DOMAIN: written((s) => s.trustDomain, same, optional(dnsName, SIDECAR_DEFAULTS.trustDomain)),
    SKEIN_IDENTITY_ADDR: written(controlPlaneAddr(IDENTITY_SERVICE, IDENTITY_PORT), hostPort,
      optional(fromParser(parseHostPort), controlPlaneAddress(IDENTITY_SERVICE, IDENTITY_PORT, SIDECAR_DEFAULTS.clusterDomain))),
    SKEIN_IDENTITY_SERVER_NAME: written((s) => controlPlaneIdentity('identity', s.trustDomain), same, optional(z.string(), controlPlaneIdentity('identity', trustDomain))),
    SKEIN_DISCOVERY_ADDR: written(controlPlaneAddr(DISCOVERY_SERVICE, DISCOVERY_PORT), hostPort,
      optional(fromParser(parseHostPort), controlPlaneAddress(DISCOVERY_SERVICE, DISCOVERY_PORT, SIDECAR_DEFAULTS.clusterDomain))),
    SKEIN_DISCOVERY_SERVER_NAME: written((s) => controlPlaneIdentity('discovery', s.trustDomain), same, optional(z.string(), controlPlaneIdentity('discovery', trustDomain))),
    SKEIN_IDENTITY_TOKEN_FILE: written(() => `${TOKEN_MOUNT}/token`, same, optional(z.string(), `${TOKEN_MOUNT}/token`)),
    SKEIN_TRUST_ROOTS_FILE: written(() => `${TRUST_ROOTS_MOUNT}/ca-bundle.crt`, same, optional(z.string(), `${TRUST_ROOTS_MOUNT}/ca-bundle.crt`)),
    SKEIN_INBOUND_PORT: written(() => PORTS.inbound, String, optional(portNumber, String(PORTS.inbound))),
    SKEIN_OUTBOUND_PORT: written(() => PORTS.outbound, String, optional(portNumber, String(PORTS.outbound))),
    SKEIN_CONTROL_PORT: written(() => PORTS.control, String, optional(portNumber, String(PORTS.control))),
    SKEIN_ADMIN_PORT: written(() => PORTS.admin, String, optional(portNumber, String(PORTS.admin))),
    SKEIN_APP_PORTS: written((s) => s.appPorts, (ports) => ports.join(','), optional(singlePorts, '')),
    SKEIN_SKIP_INBOUND_PORTS: written((s) => s.skipInboundPorts, formatPortRanges, optional(portList, '')),
    SKEIN_SKIP_OUTBOUND_PORTS: written((s) => s.skipOutboundPorts, formatPortRanges, optional(portList, '')),
    // Unset means the injector's defaults; set to "" it means none, so this one is not `optional`.
    SKEIN_OPAQUE_PORTS: written((s) => s.opaquePorts, formatPortRanges,
      z.string().optional().transform((v) => v ?? formatPortRanges(SIDECAR_DEFAULTS.opaquePorts)).pipe(portList)),
    SKEIN_LOG_LEVEL: written((s) => s.logLevel, same, optional(z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }), SIDECAR_DEFAULTS.logLevel)),
    SKEIN_LOG_FORMAT: written((s) => s.logFormat, same, optional(z.enum(LOG_FORMATS, { error: 'must be plain or json' }), SIDECAR_DEFAULTS.logFormat)),
    SKEIN_DEFAULT_INBOUND_POLICY: written((s) => s.defaultInboundPolicy, same, optional(DefaultInboundPolicy, SIDECAR_DEFAULTS.defaultInboundPolicy)),
    // The same list discovery sends (api/pod-probes.ts computes both): the proxy admits probes before its first InboundUpdate, so `deny` cannot fail a new pod's probes.
    SKEIN_PROBES: written((s) => s.probes, (p) => JSON.stringify(p), optional(probeList, '[]')),
    SKEIN_SHUTDOWN_ENDPOINT: written((s) => s.shutdownEndpoint, formatOnOff, optional(onOff, formatOnOff(SIDECAR_DEFAULTS.shutdownEndpoint))),
    SKEIN_SHUTDOWN_GRACE_PERIOD: written((s) => s.shutdownGracePeriodMs, (ms) => `${ms / 1000}s`,
      optional(fromParser(parseEnvDuration), `${SIDECAR_DEFAULTS.shutdownGracePeriodSeconds}s`)),
    // The proxy sizes its connection cap from its own memory limit, whatever the annotations made it.
    SKEIN_MEMORY_LIMIT: { write: { resource: 'limits.memory' }, read: unset(count(0, Number.MAX_SAFE_INTEGER)) } satisfies Variable<number | undefined>,
    SKEIN_TLS_HANDSHAKE_TIMEOUT: tuned(optional(timeout, `${DEFAULT_LIMITS.tlsHandshakeTimeoutMs}ms`)),
    SKEIN_HEADERS_TIMEOUT: tuned(optional(timeout, `${DEFAULT_LIMITS.headersTimeoutMs}ms`)),
    SKEIN_IDLE_TIMEOUT: tuned(optional(timeout, `${DEFAULT_LIMITS.idleMs}ms`)),
    SKEIN_MAX_HEADER_BYTES: tuned(optional(count(1024, 1 << 20), String(DEFAULT_LIMITS.maxHeaderBytes))),
    // Set: the cap. Unset: sized from SKEIN_MEMORY_LIMIT (the downward API's limits.memory, in bytes), else the default.
    SKEIN_MAX_CONNECTIONS: tuned(unset(count(1, 1_000_000))),
  };
}

type Variables = ReturnType<typeof variables>;
export type SidecarVariable = keyof Variables;
/** The environment as the proxy reads it: one typed value per variable. */
export type SidecarEnv = { [K in SidecarVariable]: Variables[K] extends Variable<infer T> ? T : never };
export interface SidecarProblem { variable: string; message: string }

/** The injector's side: the skein-proxy container's `env`, in a stable order. */
export function sidecarEnv(settings: SidecarSettings): V1EnvVar[] {
  const env: V1EnvVar[] = [];
  for (const [name, v] of Object.entries(variables(settings.trustDomain)) as [string, Variable<unknown>][]) {
    const w = v.write;
    if (w === undefined) continue;
    if ('fieldPath' in w) env.push({ name, valueFrom: { fieldRef: { fieldPath: w.fieldPath } } });
    else if ('resource' in w) env.push({ name, valueFrom: { resourceFieldRef: { containerName: PROXY_CONTAINER, resource: w.resource } } });
    else env.push({ name, value: w.value(settings) });
  }
  return env;
}

/** The proxy's side: every variable parsed, or every problem named by its variable. */
export function parseSidecarEnv(env: NodeJS.ProcessEnv): { ok: true; env: SidecarEnv } | { ok: false; problems: SidecarProblem[] } {
  const vars = variables(env.SKEIN_TRUST_DOMAIN?.trim() || SIDECAR_DEFAULTS.trustDomain);
  const shape = Object.fromEntries(Object.entries(vars).map(([name, v]) => [name, v.read])) as { [K in SidecarVariable]: Variables[K]['read'] };
  const parsed = z.object(shape).safeParse(env);
  if (parsed.success) return { ok: true, env: parsed.data };
  return { ok: false, problems: parsed.error.issues.map((i) => ({ variable: String(i.path[0] ?? 'environment'), message: i.message })) };
}

/** The variables the injector writes (the rest are tuned by hand). */
export const WRITTEN_VARIABLES: readonly SidecarVariable[] = (Object.entries(variables(SIDECAR_DEFAULTS.trustDomain)) as [SidecarVariable, Variable<unknown>][])
  .filter(([, v]) => v.write !== undefined).map(([name]) => name);
