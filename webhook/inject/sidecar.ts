// The containers and volumes the injector adds, as pure functions of the pod
// and its resolved configuration.
import type { V1Pod, V1Container, V1Volume, V1Probe, V1ResourceRequirements } from '@kubernetes/client-node';
import { httpProbes } from '../../api/pod-probes.ts';
import { formatPortRanges } from '../../api/port-ranges.ts';
import { SIDECAR_DEFAULTS, sidecarEnv } from '../../api/sidecar.ts';
import type { ProxyConfig } from './config.ts';
import {
  INIT_CONTAINER, PROXY_CONTAINER, PROXY_UID, PORTS,
  INIT_RUN_VOLUME, INIT_RUN_MOUNT, TOKEN_VOLUME, TOKEN_MOUNT, TRUST_ROOTS_VOLUME, TRUST_ROOTS_CONFIGMAP, TRUST_ROOTS_MOUNT, identityAudience,
} from '../../api/mesh-names.ts';

export interface MeshSettings {
  trustDomain: string;
  clusterDomain: string;
  /** Lifetime of the projected identity token: short, it only buys a certificate. */
  tokenExpirationSeconds: number;
}

export const DEFAULT_MESH: MeshSettings = { trustDomain: SIDECAR_DEFAULTS.trustDomain, clusterDomain: SIDECAR_DEFAULTS.clusterDomain, tokenExpirationSeconds: 3600 };

/** The ports the pod's own containers serve, including HTTP probe ports: the proxy's inbound side. */
export function appPorts(pod: V1Pod): number[] {
  const ports = new Set<number>();
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) if ((p.protocol ?? 'TCP') === 'TCP') ports.add(p.containerPort);
    for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
      const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
      if (typeof port === 'number') ports.add(port);
      else if (typeof port === 'string') {
        const named = c.ports?.find((p) => p.name === port);
        if (named) ports.add(named.containerPort);
      }
    }
  }
  return [...ports].sort((a, b) => a - b);
}

const httpProbe = (path: string, extra: Partial<V1Probe>): V1Probe => ({ httpGet: { path, port: PORTS.admin }, timeoutSeconds: 1, ...extra });

/** How long the proxy may take to become ready (its certificate, its first discovery answer) before the kubelet restarts it. */
export const PROXY_STARTUP_SECONDS = 120;

/**
 * The proxy's startup probe waits for /ready itself (`skein-proxy await`, the
 * classic mode's postStart): one exec that passes the moment the proxy is
 * ready. An httpGet probe fails, and the kubelet records an `Unhealthy`
 * Warning, every period until then, on every normal start. Readiness and
 * liveness probes begin only after it passed, so they do not warn either.
 * Its own timeout is shorter than the probe's, so a proxy that never gets
 * ready fails it once with await's explanation in the Event, and is restarted.
 */
export const startupProbe = (): V1Probe => ({
  exec: { command: ['skein-proxy', 'await', `--timeout=${PROXY_STARTUP_SECONDS}s`] },
  timeoutSeconds: PROXY_STARTUP_SECONDS + 5, periodSeconds: 1, failureThreshold: 1,
});

function resources(c: ProxyConfig): V1ResourceRequirements {
  const limits: Record<string, string> = {};
  if (c.cpuLimit) limits.cpu = c.cpuLimit;
  if (c.memoryLimit) limits.memory = c.memoryLimit;
  return { requests: { cpu: c.cpuRequest, memory: c.memoryRequest }, ...(Object.keys(limits).length > 0 ? { limits } : {}) };
}

export function initContainer(config: ProxyConfig): V1Container {
  const skipInbound = [`${PORTS.control}`, `${PORTS.admin}`, ...(config.skipInboundPorts.length ? [formatPortRanges(config.skipInboundPorts)] : [])].join(',');
  return {
    name: INIT_CONTAINER,
    image: config.image,
    command: ['skein-init'],
    args: [
      '--inbound-port', String(PORTS.inbound),
      '--outbound-port', String(PORTS.outbound),
      '--proxy-uid', String(PROXY_UID),
      '--skip-inbound-ports', skipInbound,
      ...(config.skipOutboundPorts.length ? ['--skip-outbound-ports', formatPortRanges(config.skipOutboundPorts)] : []),
    ],
    // Root with only the two capabilities iptables needs.
    securityContext: {
      runAsUser: 0, runAsGroup: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    resources: resources(config),
    // The root stays read-only; iptables' lock (/run/xtables.lock, taken by the legacy backend) needs somewhere writable.
    volumeMounts: [{ name: INIT_RUN_VOLUME, mountPath: INIT_RUN_MOUNT }],
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

export function proxyContainer(pod: V1Pod, config: ProxyConfig, mesh: MeshSettings): V1Container {
  const env = sidecarEnv({
    trustDomain: mesh.trustDomain, clusterDomain: mesh.clusterDomain, appPorts: appPorts(pod), probes: httpProbes(pod),
    skipInboundPorts: config.skipInboundPorts, skipOutboundPorts: config.skipOutboundPorts, opaquePorts: config.opaquePorts,
    logLevel: config.logLevel, logFormat: config.logFormat, defaultInboundPolicy: config.defaultInboundPolicy,
    shutdownEndpoint: config.adminShutdown, shutdownGracePeriodMs: config.shutdownGracePeriodSeconds * 1000,
  });
  const c: V1Container = {
    name: PROXY_CONTAINER,
    image: config.image,
    command: ['skein-proxy'],
    env,
    ports: [
      { name: 'skein-proxy', containerPort: PORTS.inbound, protocol: 'TCP' },
      { name: 'skein-admin', containerPort: PORTS.admin, protocol: 'TCP' },
    ],
    startupProbe: startupProbe(),
    readinessProbe: httpProbe('/ready', { periodSeconds: 2 }),
    livenessProbe: httpProbe('/live', { initialDelaySeconds: 10, periodSeconds: 10 }),
    securityContext: {
      // The group too: without it the runtime keeps the image's (or root's, gid 0, when the image has no passwd entry for the uid).
      runAsUser: PROXY_UID, runAsGroup: PROXY_UID, runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    },
    resources: resources(config),
    volumeMounts: [
      { name: TOKEN_VOLUME, mountPath: TOKEN_MOUNT, readOnly: true },
      { name: TRUST_ROOTS_VOLUME, mountPath: TRUST_ROOTS_MOUNT, readOnly: true },
    ],
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  if (config.nativeSidecar) {
    // The kubelet starts the next container only when the startup probe passes: apps never race the proxy.
    c.restartPolicy = 'Always';
  } else if (config.await) {
    // Classic mode: the kubelet waits for postStart before starting the next container.
    c.lifecycle = { postStart: { exec: { command: ['skein-proxy', 'await', '--timeout=120s'] } } };
  }
  return c;
}

export function volumes(mesh: MeshSettings): V1Volume[] {
  return [
    {
      name: TOKEN_VOLUME,
      projected: { sources: [{ serviceAccountToken: { path: 'token', audience: identityAudience(mesh.trustDomain), expirationSeconds: mesh.tokenExpirationSeconds } }] },
    },
    { name: TRUST_ROOTS_VOLUME, configMap: { name: TRUST_ROOTS_CONFIGMAP } },
    { name: INIT_RUN_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
  ];
}
