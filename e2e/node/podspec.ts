// What a kubelet derives from a Pod spec before it runs anything: users,
// capabilities, environment, downward API values, restart decisions. Pure
// functions over the spec, so each rule is tested without a cluster.
import { availableParallelism, totalmem } from 'node:os';
import type { V1Pod, V1Container, V1EnvVar, V1Service, V1ObjectFieldSelector, V1ResourceFieldSelector } from '@kubernetes/client-node';
import { parseQuantity } from '../../api/quantity.ts';

/** What containerd grants a container unless it asks for less or more. */
export const DEFAULT_CAPS = [
  'chown', 'dac_override', 'fsetid', 'fowner', 'mknod', 'net_raw', 'setgid', 'setuid',
  'setfcap', 'setpcap', 'net_bind_service', 'sys_chroot', 'kill', 'audit_write',
];

const capName = (c: string) => c.toLowerCase().replace(/^cap_/, '');

export interface Privileges {
  uid: number;
  gid: number;
  /** setpriv list (`+a,+b`) of the capability bounding set. */
  bounding: string;
  /** setpriv list of capabilities the container added, or `-`. */
  added: string;
}

export function privilegesOf(pod: V1Pod, c: V1Container): Privileges {
  const podSc = pod.spec?.securityContext;
  const sc = c.securityContext;
  const uid = sc?.runAsUser ?? podSc?.runAsUser ?? 0;
  const gid = sc?.runAsGroup ?? podSc?.runAsGroup ?? 0;
  const add = (sc?.capabilities?.add ?? []).map(capName);
  const drop = new Set((sc?.capabilities?.drop ?? []).map(capName));
  const base = sc?.privileged ? ['all'] : drop.has('all') ? [] : DEFAULT_CAPS.filter((x) => !drop.has(x));
  const bounding = [...new Set([...base, ...add])];
  return {
    uid,
    gid,
    bounding: bounding.length > 0 ? bounding.map((x) => `+${x}`).join(',') : '-all',
    added: add.length > 0 ? add.map((x) => `+${x}`).join(',') : '-',
  };
}

export interface PodRuntimeFacts {
  podIP: string;
  hostIP: string;
}

/** The value of a downward API `fieldRef`, or undefined for a path the API does not define. */
export function fieldValue(pod: V1Pod, ref: V1ObjectFieldSelector, facts: PodRuntimeFacts): string | undefined {
  const m = pod.metadata ?? {};
  const path = ref.fieldPath;
  const mapKey = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (mapKey) return (mapKey[1] === 'labels' ? m.labels : m.annotations)?.[mapKey[2] ?? ''] ?? '';
  switch (path) {
    case 'metadata.name': return m.name ?? '';
    case 'metadata.namespace': return m.namespace ?? '';
    case 'metadata.uid': return m.uid ?? '';
    case 'metadata.labels': return formatMap(m.labels);
    case 'metadata.annotations': return formatMap(m.annotations);
    case 'spec.nodeName': return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP': case 'status.podIPs': return facts.podIP;
    case 'status.hostIP': case 'status.hostIPs': return facts.hostIP;
    default: return undefined;
  }
}

/** The downward API's `key="value"` lines, sorted, as the kubelet writes them. */
function formatMap(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {}).sort().map((k) => `${k}=${JSON.stringify(map?.[k] ?? '')}`).join('\n');
}

export function resourceValue(c: V1Container, ref: V1ResourceFieldSelector): string {
  const [kind, name] = ref.resource.split('.') as ['limits' | 'requests', string];
  // The API server stores an unset divisor as "0"; the kubelet reads a zero divisor as 1.
  const divisor = (ref.divisor ? parseQuantity(String(ref.divisor)) : 0) || 1;
  // As the kubelet: an unset limit reads as the node's allocatable amount, an unset request as 0.
  const unsetLimit = name === 'cpu' ? availableParallelism() : name === 'memory' ? totalmem() : 0;
  const raw = c.resources?.[kind]?.[name] ?? (kind === 'limits' ? unsetLimit : 0);
  return String(Math.ceil(parseQuantity(String(raw)) / divisor));
}

/** Docker-link style variables for each Service in the pod's namespace (enableServiceLinks). */
export function serviceEnv(services: readonly V1Service[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const svc of services) {
    const ip = svc.spec?.clusterIP;
    const port = svc.spec?.ports?.[0]?.port;
    if (!ip || ip === 'None' || port === undefined) continue;
    const prefix = (svc.metadata?.name ?? '').toUpperCase().replace(/-/g, '_');
    env[`${prefix}_SERVICE_HOST`] = ip;
    env[`${prefix}_SERVICE_PORT`] = String(port);
    for (const p of svc.spec?.ports ?? []) {
      if (p.name) env[`${prefix}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.port);
    }
  }
  return env;
}

export interface EnvSources extends PodRuntimeFacts {
  services: readonly V1Service[];
  configMap: (name: string) => Record<string, string> | undefined;
  secret: (name: string) => Record<string, string> | undefined;
}

export class EnvError extends Error {
  readonly code = 'CreateContainerConfigError';
}

/** A container's environment, as the kubelet builds it: service links, envFrom, then env with $(VAR) expansion. */
export function envFor(pod: V1Pod, c: V1Container, src: EnvSources): Record<string, string> {
  const env: Record<string, string> = pod.spec?.enableServiceLinks === false
    ? Object.fromEntries(Object.entries(serviceEnv(src.services)).filter(([k]) => k.startsWith('KUBERNETES_')))
    : serviceEnv(src.services);
  for (const from of c.envFrom ?? []) {
    const data = from.configMapRef ? src.configMap(from.configMapRef.name ?? '') : from.secretRef ? src.secret(from.secretRef.name ?? '') : {};
    if (data === undefined) {
      const optional = from.configMapRef?.optional ?? from.secretRef?.optional ?? false;
      if (optional) continue;
      throw new EnvError(`envFrom ${from.configMapRef ? 'configmap' : 'secret'} "${from.configMapRef?.name ?? from.secretRef?.name ?? ''}" not found`);
    }
    for (const [k, v] of Object.entries(data)) env[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of c.env ?? []) env[e.name] = envValue(pod, c, e, env, src);
  return env;
}

function envValue(pod: V1Pod, c: V1Container, e: V1EnvVar, soFar: Record<string, string>, src: EnvSources): string {
  if (e.value !== undefined) return expand(e.value, soFar);
  const from = e.valueFrom;
  if (!from) return '';
  if (from.fieldRef) return fieldValue(pod, from.fieldRef, src) ?? '';
  if (from.resourceFieldRef) return resourceValue(c, from.resourceFieldRef);
  const ref = from.configMapKeyRef ?? from.secretKeyRef;
  if (ref) {
    const data = from.configMapKeyRef ? src.configMap(ref.name ?? '') : src.secret(ref.name ?? '');
    const value = data?.[ref.key];
    if (value === undefined && !ref.optional) {
      throw new EnvError(`env ${e.name}: key "${ref.key}" of ${from.configMapKeyRef ? 'configmap' : 'secret'} "${ref.name ?? ''}" not found`);
    }
    return value ?? '';
  }
  return '';
}

/** `$(VAR)` refers to an earlier variable; `$$(VAR)` is a literal `$(VAR)`; unknown references stay as written. */
export function expand(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole: string, name: string | undefined) => {
    if (whole === '$$') return '$';
    return name !== undefined && name in vars ? vars[name] ?? '' : whole;
  });
}

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

export function shouldRestart(policy: RestartPolicy, exitCode: number): boolean {
  return policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
}

/**
 * Crash-loop back-off: 1 s doubling to 30 s. (The kubelet's is 10 s to 5 min;
 * a test cluster that waits minutes for a restart tests nothing faster.)
 */
export function restartBackoffMs(restarts: number): number {
  return Math.min(30_000, 1_000 * 2 ** Math.max(0, restarts - 1));
}

export function isNativeSidecar(c: V1Container): boolean {
  return c.restartPolicy === 'Always';
}
