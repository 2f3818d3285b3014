// The proxy's configuration: the SKEIN_* variables the injector sets on the
// skein-proxy container (webhook/inject/sidecar.ts, proxyContainer). Checked
// once at start; a missing or malformed variable stops the proxy with a
// message naming the variable and what it should hold, because a proxy that
// guesses its own identity or ports would fail later and less clearly.
import { isIP } from 'node:net';
import { z } from 'zod';
import { formatPortRanges, parsePortRanges, type PortRange } from '../../shared/port-ranges.ts';
import { DEFAULTS } from '../../webhook/inject/config.ts';
import type { ProbeTarget } from './authz.ts';
import { CONTROL_PLANE_NAMESPACE, PORTS, TOKEN_MOUNT, TRUST_ROOTS_MOUNT } from '../../shared/mesh-names.ts';

export type { PortRange };

export interface HostPort { host: string; port: number }

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export type DefaultInboundPolicy = 'all-unauthenticated' | 'all-authenticated' | 'cluster-authenticated' | 'deny';

export interface ProxyConfig {
  pod: { name: string; namespace: string; ip: string; nodeName: string | undefined; serviceAccount: string };
  identity: { name: string; trustDomain: string; addr: HostPort; serverName: string; tokenFile: string; trustRootsFile: string };
  discovery: { addr: HostPort; serverName: string };
  ports: { inbound: number; outbound: number; control: number; admin: number };
  /** Ports the app's containers serve. */
  appPorts: number[];
  skipInboundPorts: PortRange[];
  skipOutboundPorts: PortRange[];
  /** Forwarded as plain TCP, without protocol detection. */
  opaquePorts: PortRange[];
  log: { level: LogLevel; format: 'plain' | 'json' };
  defaultInboundPolicy: DefaultInboundPolicy;
  /** The app's HTTP probes, admitted whatever the inbound policy, before discovery sends them too. */
  probes: ProbeTarget[];
  shutdownEndpoint: boolean;
  shutdownGracePeriodMs: number;
  limits: ProxyLimits;
}

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

/** The limits without a memory limit to size the connection cap from (SKEIN_MEMORY_LIMIT unset). */
export const DEFAULT_LIMITS: ProxyLimits = {
  tlsHandshakeTimeoutMs: 3_000,
  headersTimeoutMs: 10_000,
  idleMs: 60_000,
  maxHeaderBytes: 64 * 1024,
  maxConnectionsPerListener: 10_000,
};

// From limits.test.ts's flood: ~121 MiB before it, 34–43 KiB per held
// connection after. Both rounded up, so a proxy at its cap stays under its limit.
const RESERVED_BYTES = 144 * 1024 * 1024;
const PER_CONNECTION_BYTES = 48 * 1024;
/** Even a proxy squeezed below its baseline keeps accepting a few connections rather than none. */
const MIN_CONNECTIONS = 100;

/**
 * Open connections per listener that fit in the container's memory limit:
 * the two listeners share what is left above the baseline. Without this a
 * flood of idle clients at the default cap of 10,000 would get a 256Mi proxy
 * OOM-killed, taking its pod's traffic with it, rather than refused at accept.
 */
export function connectionCapFor(memoryLimitBytes: number): number {
  const perListener = Math.floor((memoryLimitBytes - RESERVED_BYTES) / PER_CONNECTION_BYTES / 2);
  return Math.min(DEFAULT_LIMITS.maxConnectionsPerListener, Math.max(MIN_CONNECTIONS, perListener));
}

export interface ConfigProblem { variable: string; message: string }

export class ConfigError extends Error {
  readonly code = 'ConfigInvalid';
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super(`skein-proxy configuration: ${problems.map((p) => `${p.variable} ${p.message}`).join('; ')}`);
    this.problems = problems;
  }
}

/** `30s`, `500ms`, `2m`, `1h`, or bare seconds (`30`) as the injector's annotations allow. */
export function parseDuration(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (!m) throw new Error(`"${value}" is not a duration such as 30s, 500ms or 2m`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}

/** `host:port` or `[v6]:port`. */
export function parseHostPort(value: string): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value.trim());
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || host === undefined || port < 1 || port > 65535) throw new Error(`"${value}" is not host:port such as skein-identity.skein-system.svc.cluster.local:8080`);
  return { host, port };
}

const fromParser = <T>(parse: (v: string) => T) => z.string().transform((v, ctx) => {
  try { return parse(v); } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const required = (what: string) => z.string({ error: `is not set; expected ${what}` }).trim().min(1, `is empty; expected ${what}`);
const port = z.string().regex(/^\d{1,5}$/, 'must be a port number 1-65535').transform(Number).refine((p) => p >= 1 && p <= 65535, 'must be a port number 1-65535');
const portList = fromParser(parsePortRanges);
const singlePorts = fromParser((v) => parsePortRanges(v).flatMap((r) => Array.from({ length: r.to - r.from + 1 }, (_, i) => r.from + i)));
const probeList = fromParser((v): ProbeTarget[] => {
  const shape = z.array(z.object({ port: z.number().int().min(1).max(65535), path: z.string().startsWith('/') }).strict());
  let json: unknown;
  try { json = JSON.parse(v); } catch { json = undefined; }
  const parsed = shape.safeParse(json);
  if (!parsed.success) throw new Error(`must be a JSON list such as [{"port":8080,"path":"/ready"}] (the injector writes it from the app's httpGet probes)`);
  return parsed.data;
});
const onOff = z.enum(['enabled', 'disabled', 'true', 'false'], { error: 'must be enabled or disabled' }).transform((v) => v === 'enabled' || v === 'true');
// Zero would mean "no limit" to Node's timers: a limit is always on.
const timeout = fromParser(parseDuration).refine((ms) => ms >= 1, 'must be a duration above zero, such as 3s or 500ms');
const count = (min: number, max: number) => z.string().regex(/^\d+$/, `must be a whole number ${min}-${max}`).transform(Number)
  .refine((n) => n >= min && n <= max, `must be a whole number ${min}-${max}`);

/** Absent and empty are the same for optional variables: the injector writes empty lists as "". */
function optional<Out>(schema: z.ZodType<Out, string>, fallback: string) {
  return z.string().optional().transform((v) => (v === undefined || v.trim() === '' ? fallback : v)).pipe(schema);
}

/** Like optional, with no fallback: absent or empty is undefined, so the caller can tell "not set" from a value. */
function unset<Out>(schema: z.ZodType<Out, string>) {
  return z.string().optional().transform((v) => (v === undefined || v.trim() === '' ? undefined : v)).pipe(schema.optional());
}

function schema(env: NodeJS.ProcessEnv) {
  const trustDomain = env.SKEIN_TRUST_DOMAIN?.trim() || 'cluster.local';
  const ns = CONTROL_PLANE_NAMESPACE;
  return z.object({
    SKEIN_POD_NAME: required("the pod's name (fieldRef metadata.name)"),
    SKEIN_POD_NAMESPACE: required("the pod's namespace (fieldRef metadata.namespace)"),
    SKEIN_POD_IP: required("the pod's IP (fieldRef status.podIP)").refine((v) => isIP(v) !== 0, 'must be an IPv4 or IPv6 address'),
    SKEIN_NODE_NAME: z.string().optional(),
    SKEIN_SERVICE_ACCOUNT: required("the pod's service account (fieldRef spec.serviceAccountName)"),
    SKEIN_IDENTITY_NAME: z.string().optional(),
    SKEIN_TRUST_DOMAIN: optional(z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS name such as cluster.local'), 'cluster.local'),
    SKEIN_IDENTITY_ADDR: optional(fromParser(parseHostPort), `skein-identity.${ns}.svc.cluster.local:8080`),
    SKEIN_IDENTITY_SERVER_NAME: optional(z.string(), `skein-identity.${ns}.serviceaccount.identity.${ns}.${trustDomain}`),
    SKEIN_DISCOVERY_ADDR: optional(fromParser(parseHostPort), `skein-discovery.${ns}.svc.cluster.local:8086`),
    SKEIN_DISCOVERY_SERVER_NAME: optional(z.string(), `skein-controller.${ns}.serviceaccount.identity.${ns}.${trustDomain}`),
    SKEIN_IDENTITY_TOKEN_FILE: optional(z.string(), `${TOKEN_MOUNT}/token`),
    SKEIN_TRUST_ROOTS_FILE: optional(z.string(), `${TRUST_ROOTS_MOUNT}/ca-bundle.crt`),
    SKEIN_INBOUND_PORT: optional(port, String(PORTS.inbound)),
    SKEIN_OUTBOUND_PORT: optional(port, String(PORTS.outbound)),
    SKEIN_CONTROL_PORT: optional(port, String(PORTS.control)),
    SKEIN_ADMIN_PORT: optional(port, String(PORTS.admin)),
    SKEIN_APP_PORTS: optional(singlePorts, ''),
    SKEIN_SKIP_INBOUND_PORTS: optional(portList, ''),
    SKEIN_SKIP_OUTBOUND_PORTS: optional(portList, ''),
    // Unset means the injector's defaults; set to "" it means none, so this one is not `optional`.
    SKEIN_OPAQUE_PORTS: z.string().optional().transform((v) => v ?? formatPortRanges(DEFAULTS.opaquePorts)).pipe(portList),
    SKEIN_LOG_LEVEL: optional(z.enum(['trace', 'debug', 'info', 'warn', 'error'], { error: 'must be one of trace, debug, info, warn, error' }), DEFAULTS.logLevel),
    SKEIN_LOG_FORMAT: optional(z.enum(['plain', 'json'], { error: 'must be plain or json' }), DEFAULTS.logFormat),
    SKEIN_DEFAULT_INBOUND_POLICY: optional(
      z.enum(['all-unauthenticated', 'all-authenticated', 'cluster-authenticated', 'deny'], { error: 'must be one of all-unauthenticated, all-authenticated, cluster-authenticated, deny' }),
      DEFAULTS.defaultInboundPolicy,
    ),
    SKEIN_PROBES: optional(probeList, '[]'),
    SKEIN_SHUTDOWN_ENDPOINT: optional(onOff, 'disabled'),
    SKEIN_SHUTDOWN_GRACE_PERIOD: optional(fromParser(parseDuration), `${DEFAULTS.shutdownGracePeriodSeconds}s`),
    SKEIN_TLS_HANDSHAKE_TIMEOUT: optional(timeout, `${DEFAULT_LIMITS.tlsHandshakeTimeoutMs}ms`),
    SKEIN_HEADERS_TIMEOUT: optional(timeout, `${DEFAULT_LIMITS.headersTimeoutMs}ms`),
    SKEIN_IDLE_TIMEOUT: optional(timeout, `${DEFAULT_LIMITS.idleMs}ms`),
    SKEIN_MAX_HEADER_BYTES: optional(count(1024, 1 << 20), String(DEFAULT_LIMITS.maxHeaderBytes)),
    // Set: the cap. Unset: sized from SKEIN_MEMORY_LIMIT (the downward API's limits.memory, in bytes), else the default.
    SKEIN_MAX_CONNECTIONS: unset(count(1, 1_000_000)),
    SKEIN_MEMORY_LIMIT: unset(count(0, Number.MAX_SAFE_INTEGER)),
  });
}

/** Each proxy port listens on its own number; a clash would only show as EADDRINUSE later. */
function portClashes(ports: Record<string, number>): ConfigProblem[] {
  const owner = new Map<number, string>();
  const problems: ConfigProblem[] = [];
  for (const [name, port] of Object.entries(ports)) {
    const variable = `SKEIN_${name.toUpperCase()}_PORT`;
    const earlier = owner.get(port);
    if (earlier) problems.push({ variable, message: `is ${port}, the same as ${earlier}; each proxy port needs its own` });
    else owner.set(port, variable);
  }
  return problems;
}

export function loadConfig(env: NodeJS.ProcessEnv): ProxyConfig {
  const parsed = schema(env).safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => ({ variable: String(i.path[0] ?? 'environment'), message: i.message })));
  }
  const e = parsed.data;
  const ports = { inbound: e.SKEIN_INBOUND_PORT, outbound: e.SKEIN_OUTBOUND_PORT, control: e.SKEIN_CONTROL_PORT, admin: e.SKEIN_ADMIN_PORT };
  const clashes = portClashes(ports);
  if (clashes.length > 0) throw new ConfigError(clashes);
  return {
    pod: { name: e.SKEIN_POD_NAME, namespace: e.SKEIN_POD_NAMESPACE, ip: e.SKEIN_POD_IP, nodeName: e.SKEIN_NODE_NAME || undefined, serviceAccount: e.SKEIN_SERVICE_ACCOUNT },
    identity: {
      // The injector writes it with $(VAR) references the kubelet expands; derive it the same way when absent.
      name: e.SKEIN_IDENTITY_NAME?.trim() || `${e.SKEIN_SERVICE_ACCOUNT}.${e.SKEIN_POD_NAMESPACE}.serviceaccount.identity.${CONTROL_PLANE_NAMESPACE}.${e.SKEIN_TRUST_DOMAIN}`,
      trustDomain: e.SKEIN_TRUST_DOMAIN,
      addr: e.SKEIN_IDENTITY_ADDR,
      serverName: e.SKEIN_IDENTITY_SERVER_NAME,
      tokenFile: e.SKEIN_IDENTITY_TOKEN_FILE,
      trustRootsFile: e.SKEIN_TRUST_ROOTS_FILE,
    },
    discovery: { addr: e.SKEIN_DISCOVERY_ADDR, serverName: e.SKEIN_DISCOVERY_SERVER_NAME },
    ports,
    appPorts: e.SKEIN_APP_PORTS,
    skipInboundPorts: e.SKEIN_SKIP_INBOUND_PORTS,
    skipOutboundPorts: e.SKEIN_SKIP_OUTBOUND_PORTS,
    opaquePorts: e.SKEIN_OPAQUE_PORTS,
    log: { level: e.SKEIN_LOG_LEVEL, format: e.SKEIN_LOG_FORMAT },
    defaultInboundPolicy: e.SKEIN_DEFAULT_INBOUND_POLICY,
    probes: e.SKEIN_PROBES,
    shutdownEndpoint: e.SKEIN_SHUTDOWN_ENDPOINT,
    shutdownGracePeriodMs: e.SKEIN_SHUTDOWN_GRACE_PERIOD,
    limits: {
      tlsHandshakeTimeoutMs: e.SKEIN_TLS_HANDSHAKE_TIMEOUT, headersTimeoutMs: e.SKEIN_HEADERS_TIMEOUT, idleMs: e.SKEIN_IDLE_TIMEOUT,
      maxHeaderBytes: e.SKEIN_MAX_HEADER_BYTES,
      maxConnectionsPerListener: e.SKEIN_MAX_CONNECTIONS
        // 0 says nothing about the memory (no kubelet writes it; a hand-made env might): the default then.
        ?? (e.SKEIN_MEMORY_LIMIT ? connectionCapFor(e.SKEIN_MEMORY_LIMIT) : DEFAULT_LIMITS.maxConnectionsPerListener),
    },
  };
}

/** True when `port` falls in one of the ranges (opaque, skipped). */
export function inPortRanges(port: number, ranges: readonly PortRange[]): boolean {
  return ranges.some((r) => port >= r.from && port <= r.to);
}
