// The proxy's assembly: both directions, their destinations and balancer,
// with the production timeouts and limits. main.ts, the fuzz and security
// mesh (test-pair.ts), the limits fixture and the benchmark hop all call
// composeProxy, so what the tests and the benchmark exercise is what ships;
// they pass only what a pod would get from the cluster (certificate,
// discovery, original destination, policy) and, where a test must be quick,
// shorter timeouts.
import type net from 'node:net';
import type { Socket } from 'node:net';
import type { Registry } from '../../shared/prom-text.ts';
import type { Endpoint } from '../../api/discovery-protocol.ts';
import { inPortRanges, type PortRange } from '../../api/port-ranges.ts';
import { DEFAULT_LIMITS, type ProxyLimits } from '../../api/sidecar.ts';
import type { Logger } from '../../shared/log.ts';
import type { InboundPolicy } from './authz.ts';
import { p2cPeakEwma, type BalancerOptions } from './balancer.ts';
import { listener } from './accept.ts';
import { hostPort, type Proxy } from './connection.ts';
import { Destinations, type Discovery } from './destinations.ts';
import type { MeshTls } from './mesh-tls.ts';
import { ProxyMetrics } from './metrics.ts';
import type { OriginalDestination } from './original-dst.ts';
import { inboundStack, outboundStack } from './stack.ts';

export interface ProxyTimeouts {
  /** Linkerd's detection timeout (linkerd-facts §8.6): after it a silent client is opaque TCP. */
  detectMs: number;
  /** Linkerd's connect timeouts: 1 s to another pod, less to the app on loopback. */
  outboundConnectMs: number;
  inboundConnectMs: number;
  /**
   * How long a new destination waits for discovery before its connection is
   * passed through untouched: briefly while discovery is away (the app must not
   * hang on a dead control plane), longer while it is connected, where a late
   * answer only means a busy controller and passing through would leave a
   * keep-alive connection un-meshed, outside every split and policy, for good.
   */
  firstUpdateWaitConnectedMs: number;
  firstUpdateWaitDisconnectedMs: number;
  /** A destination with no connection for this long stops its watch. */
  destinationIdleMs: number;
}

export const PRODUCTION_TIMEOUTS: Readonly<ProxyTimeouts> = Object.freeze({
  detectMs: 10_000,
  outboundConnectMs: 1_000,
  inboundConnectMs: 300,
  firstUpdateWaitConnectedMs: 10_000,
  firstUpdateWaitDisconnectedMs: 1_000,
  destinationIdleMs: 60_000,
});

export interface ProxyParts {
  tls: MeshTls;
  discovery: Discovery;
  /** Whether discovery is connected now (picks the first-update wait); absent: never, the shorter wait. */
  discoveryConnected?: () => boolean;
  /** Where a redirected connection was going. */
  originalDestination: (socket: Socket) => OriginalDestination;
  /** The pod's inbound policy now; absent: everything admitted. */
  policy?: () => InboundPolicy;
  /** Absent ones are the defaults of an unset environment. */
  limits?: Partial<ProxyLimits>;
  opaquePorts?: readonly PortRange[];
  /** Act on `skein-route` (route.ts); main turns it off for pods with skipped inbound ports. Default true. */
  routeOverride?: boolean;
  /** Absent ones are PRODUCTION_TIMEOUTS. */
  timeouts?: Partial<ProxyTimeouts>;
  /** Balancer tuning beyond the production defaults (a test's faster decay); ejections are always counted. */
  balancer?: Omit<BalancerOptions<Endpoint>, 'onEject'>;
  log: Logger;
  registry: Registry;
}

export type Direction = 'inbound' | 'outbound';

export interface ComposedProxy {
  inbound: Proxy;
  outbound: Proxy;
  destinations: Destinations;
  metrics: ProxyMetrics;
  limits: ProxyLimits;
  timeouts: ProxyTimeouts;
  /** A listener for one direction, not yet listening: capped at maxConnectionsPerListener, refusals counted. */
  server(direction: Direction): net.Server;
  /** Open connections of both directions. */
  readonly open: number;
  drain(): void;
  close(): void;
}

const endpointKey = (e: { ip: string; port: number }) => hostPort(e.ip, e.port);

export function composeProxy(p: ProxyParts): ComposedProxy {
  const timeouts: ProxyTimeouts = { ...PRODUCTION_TIMEOUTS, ...p.timeouts };
  const limits: ProxyLimits = { ...DEFAULT_LIMITS, ...p.limits };
  const metrics = new ProxyMetrics(p.registry);
  const opaquePorts = p.opaquePorts ?? [];
  const destinations = new Destinations({
    discovery: p.discovery,
    balancer: (service) => p2cPeakEwma<Endpoint>(endpointKey, { ...p.balancer, onEject: (e) => metrics.ejected(service, endpointKey(e)) }),
    idleMs: timeouts.destinationIdleMs,
  });
  const httpLimits = { maxHeaderBytes: limits.maxHeaderBytes, headersTimeoutMs: limits.headersTimeoutMs, idleMs: limits.idleMs };
  const common = {
    tls: p.tls, metrics, originalDestination: p.originalDestination, detectTimeoutMs: timeouts.detectMs, limits: httpLimits,
    isOpaquePort: (port: number) => inPortRanges(port, opaquePorts),
  };
  const outbound = outboundStack({
    ...common, log: p.log.child({ direction: 'outbound' }), destinations, connectTimeoutMs: timeouts.outboundConnectMs,
    firstUpdateWaitMs: () => (p.discoveryConnected?.() ? timeouts.firstUpdateWaitConnectedMs : timeouts.firstUpdateWaitDisconnectedMs),
    routeOverride: p.routeOverride ?? true,
  });
  const inbound = inboundStack({
    ...common, log: p.log.child({ direction: 'inbound' }), connectTimeoutMs: timeouts.inboundConnectMs,
    policy: p.policy,
    tlsHandshakeTimeoutMs: limits.tlsHandshakeTimeoutMs,
  });
  const directions = { inbound, outbound };
  return {
    inbound, outbound, destinations, metrics, limits, timeouts,
    server(direction) {
      const proxy = directions[direction];
      return listener(direction, metrics, limits.maxConnectionsPerListener, (s) => proxy.accept(s));
    },
    get open() { return outbound.open + inbound.open; },
    drain() { outbound.drain(); inbound.drain(); },
    close() { outbound.close(); inbound.close(); destinations.close(); },
  };
}
