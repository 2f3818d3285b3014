// The containers and volumes the injector adds, as pure functions of the pod
// and its resolved configuration.
import type { V1Pod, V1Container, V1Volume, V1EnvVar, V1Probe, V1ResourceRequirements } from '@kubernetes/client-node';
import { httpProbes } from '../../shared/pod-probes.ts';
import { formatPortRanges, type ProxyConfig } from './config.ts';
import {
  CONTROL_PLANE_NAMESPACE, INIT_CONTAINER, PROXY_CONTAINER, PROXY_UID, PORTS,
  TOKEN_VOLUME, TOKEN_MOUNT, TRUST_ROOTS_VOLUME, TRUST_ROOTS_CONFIGMAP, TRUST_ROOTS_MOUNT, identityAudience,
} from '../../shared/mesh-names.ts';

export interface MeshSettings {
  trustDomain: string;
  clusterDomain: string;
  /** Lifetime of the projected identity token: short, it only buys a certificate. */
  tokenExpirationSeconds: number;
}

export const DEFAULT_MESH: MeshSettings = { trustDomain: 'cluster.local', clusterDomain: 'cluster.local', tokenExpirationSeconds: 3600 };

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

const field = (name: string, fieldPath: string): V1EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } });
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
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

export function proxyContainer(pod: V1Pod, config: ProxyConfig, mesh: MeshSettings): V1Container {
  const ns = CONTROL_PLANE_NAMESPACE;
  const svc = (name: string, port: number) => `${name}.${ns}.svc.${mesh.clusterDomain}:${port}`;
  const env: V1EnvVar[] = [
    field('SKEIN_POD_NAME', 'metadata.name'),
    field('SKEIN_POD_NAMESPACE', 'metadata.namespace'),
    field('SKEIN_POD_IP', 'status.podIP'),
    field('SKEIN_NODE_NAME', 'spec.nodeName'),
    field('SKEIN_SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    { name: 'SKEIN_IDENTITY_NAME', value: `$(SKEIN_SERVICE_ACCOUNT).$(SKEIN_POD_NAMESPACE).serviceaccount.identity.${ns}.${mesh.trustDomain}` },
    { name: 'SKEIN_TRUST_DOMAIN', value: mesh.trustDomain },
    { name: 'SKEIN_IDENTITY_ADDR', value: svc('skein-identity', 8080) },
    { name: 'SKEIN_IDENTITY_SERVER_NAME', value: `skein-identity.${ns}.serviceaccount.identity.${ns}.${mesh.trustDomain}` },
    { name: 'SKEIN_DISCOVERY_ADDR', value: svc('skein-discovery', 8086) },
    { name: 'SKEIN_DISCOVERY_SERVER_NAME', value: `skein-controller.${ns}.serviceaccount.identity.${ns}.${mesh.trustDomain}` },
    { name: 'SKEIN_IDENTITY_TOKEN_FILE', value: `${TOKEN_MOUNT}/token` },
    { name: 'SKEIN_TRUST_ROOTS_FILE', value: `${TRUST_ROOTS_MOUNT}/ca-bundle.crt` },
    { name: 'SKEIN_INBOUND_PORT', value: String(PORTS.inbound) },
    { name: 'SKEIN_OUTBOUND_PORT', value: String(PORTS.outbound) },
    { name: 'SKEIN_CONTROL_PORT', value: String(PORTS.control) },
    { name: 'SKEIN_ADMIN_PORT', value: String(PORTS.admin) },
    { name: 'SKEIN_APP_PORTS', value: appPorts(pod).join(',') },
    { name: 'SKEIN_SKIP_INBOUND_PORTS', value: formatPortRanges(config.skipInboundPorts) },
    { name: 'SKEIN_SKIP_OUTBOUND_PORTS', value: formatPortRanges(config.skipOutboundPorts) },
    { name: 'SKEIN_OPAQUE_PORTS', value: formatPortRanges(config.opaquePorts) },
    { name: 'SKEIN_LOG_LEVEL', value: config.logLevel },
    { name: 'SKEIN_LOG_FORMAT', value: config.logFormat },
    { name: 'SKEIN_DEFAULT_INBOUND_POLICY', value: config.defaultInboundPolicy },
    // The same list discovery sends (one function computes both): the proxy admits probes before its first InboundUpdate, so `deny` cannot fail a new pod's probes.
    { name: 'SKEIN_PROBES', value: JSON.stringify(httpProbes(pod)) },
    { name: 'SKEIN_SHUTDOWN_ENDPOINT', value: config.adminShutdown ? 'enabled' : 'disabled' },
    { name: 'SKEIN_SHUTDOWN_GRACE_PERIOD', value: `${config.shutdownGracePeriodSeconds}s` },
    // The proxy sizes its connection cap from its own memory limit, whatever the annotations made it.
    { name: 'SKEIN_MEMORY_LIMIT', valueFrom: { resourceFieldRef: { containerName: PROXY_CONTAINER, resource: 'limits.memory' } } },
  ];
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
  ];
}
