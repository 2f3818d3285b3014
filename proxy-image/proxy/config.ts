// The proxy's configuration, from the SKEIN_* variables of the sidecar
// contract (api/sidecar.ts parses them) in the shape the proxy uses. Checked
// once at start; a missing or malformed variable stops the proxy with a
// message naming the variable and what it should hold.
import { DEFAULT_LIMITS, parseSidecarEnv, type HostPort, type LogFormat, type LogLevel, type ProbeTarget, type ProxyLimits } from '../../api/sidecar.ts';
import type { DefaultInboundPolicy } from '../../api/discovery-protocol.ts';
import { identityName } from '../../api/identity-names.ts';
import type { PortRange } from '../../api/port-ranges.ts';
import { SkeinError } from '../../api/errors.ts';

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
  log: { level: LogLevel; format: LogFormat };
  defaultInboundPolicy: DefaultInboundPolicy;
  /** The app's HTTP probes, admitted whatever the inbound policy, before discovery sends them too. */
  probes: ProbeTarget[];
  shutdownEndpoint: boolean;
  shutdownGracePeriodMs: number;
  limits: ProxyLimits;
}

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

export class ConfigError extends SkeinError {
  readonly code = 'invalid_config';
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super(`skein-proxy configuration: ${problems.map((p) => `${p.variable} ${p.message}`).join('; ')}`);
    this.problems = problems;
  }
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
  const parsed = parseSidecarEnv(env);
  if (!parsed.ok) throw new ConfigError(parsed.problems);
  const e = parsed.env;
  const ports = { inbound: e.SKEIN_INBOUND_PORT, outbound: e.SKEIN_OUTBOUND_PORT, control: e.SKEIN_CONTROL_PORT, admin: e.SKEIN_ADMIN_PORT };
  const clashes = portClashes(ports);
  if (clashes.length > 0) throw new ConfigError(clashes);
  return {
    pod: { name: e.SKEIN_POD_NAME, namespace: e.SKEIN_POD_NAMESPACE, ip: e.SKEIN_POD_IP, nodeName: e.SKEIN_NODE_NAME, serviceAccount: e.SKEIN_SERVICE_ACCOUNT },
    identity: {
      // The injector writes it with $(VAR) references the kubelet expands; derive it the same way when absent.
      name: e.SKEIN_IDENTITY_NAME || identityName(e.SKEIN_SERVICE_ACCOUNT, e.SKEIN_POD_NAMESPACE, e.SKEIN_TRUST_DOMAIN),
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
