// Resolution: what lives at a target, computed from the cached objects alone
// (pure, so every branch is a plain-object unit test). A Service maps its
// port to each slice's target port by port name, which is how named
// targetPorts come out right; endpoints follow kube-proxy's choice (ready
// ones, or serving-and-terminating ones when none is ready).
import type { V1EndpointSlice, V1ObjectReference, V1Pod, V1Service, V1ServicePort } from '@kubernetes/client-node';
import type { Endpoint, Update } from '../../api/discovery-protocol.ts';
import { identityName } from '../../api/identity-names.ts';
import { parsePortRanges, type PortRange } from '../../api/port-ranges.ts';
import { CONFIG_PREFIX, PROXY_CONTAINER, STATUS_ANNOTATION } from '../../api/mesh-names.ts';
import type { ClusterView } from './cache.ts';
import type { Target } from './target.ts';

export const OPAQUE_PORTS_ANNOTATION = `${CONFIG_PREFIX}opaque-ports`;

export interface ResolveConfig { trustDomain: string }

export const NOTHING: Update = { type: 'update', exists: false, opaque: false, endpoints: [] };

export function resolve(view: ClusterView, target: Target, cfg: ResolveConfig): Update {
  if (target.kind === 'name') {
    const svc = view.service(target.namespace, target.name);
    return svc ? resolveService(view, svc, target.port, cfg) : NOTHING;
  }
  const svc = view.serviceByClusterIP(target.ip);
  if (svc) return resolveService(view, svc, target.port, cfg);
  const pod = view.podByIP(target.ip);
  if (!pod) return NOTHING;
  const opaque = inRanges(opaquePorts(pod), target.port);
  return { type: 'update', exists: true, opaque, endpoints: [endpointOf({ ip: target.ip, port: target.port }, pod, opaque, cfg)] };
}

export function resolveService(view: ClusterView, svc: V1Service, port: number, cfg: ResolveConfig): Update {
  if (svc.spec?.type === 'ExternalName') return NOTHING;
  const headless = svc.spec?.clusterIP === 'None';
  const sp = servicePort(svc, port);
  // A headless Service without that port still has its pods at that port; a ClusterIP one has nothing there.
  if (!sp && !headless) return NOTHING;
  const namespace = svc.metadata?.namespace ?? '';
  const name = svc.metadata?.name ?? '';
  const opaque = inRanges(opaquePorts(svc), port);
  const addresses = chooseAddresses(view.slicesOf(namespace, name), sp ? { name: sp.name ?? '' } : { fixed: port });
  const endpoints = addresses.map((a) => endpointOf(a, podOf(view, a.targetRef, namespace), opaque, cfg));
  return { type: 'update', exists: true, service: { name, namespace, port }, opaque, endpoints };
}

function servicePort(svc: V1Service, port: number): V1ServicePort | undefined {
  return svc.spec?.ports?.find((p) => p.port === port && (p.protocol ?? 'TCP') === 'TCP');
}

export interface Address {
  ip: string;
  port: number;
  targetRef?: V1ObjectReference;
}

/** Ready endpoints; when none is ready, the serving ones that are terminating (kube-proxy's fallback). Sorted, unique. */
export function chooseAddresses(slices: readonly V1EndpointSlice[], port: { name: string } | { fixed: number }): Address[] {
  const ready = new Map<string, Address>();
  const terminating = new Map<string, Address>();
  for (const slice of slices) {
    if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
    const number = 'fixed' in port ? port.fixed : slice.ports?.find((p) => (p.name ?? '') === port.name && (p.protocol ?? 'TCP') === 'TCP')?.port;
    if (number === undefined || number === null) continue;
    for (const ep of slice.endpoints ?? []) {
      const ip = ep.addresses[0];
      if (ip === undefined) continue;
      const c = ep.conditions ?? {};
      const isTerminating = c.terminating === true;
      // The API: a nil `ready` means ready (unless terminating); a nil `serving` means the same as `ready`.
      const isReady = c.ready ?? !isTerminating;
      const isServing = c.serving ?? isReady;
      const address: Address = { ip, port: number, ...(ep.targetRef ? { targetRef: ep.targetRef } : {}) };
      if (isReady) ready.set(`${ip}:${number}`, address);
      else if (isServing && isTerminating) terminating.set(`${ip}:${number}`, address);
    }
  }
  const chosen = ready.size > 0 ? ready : terminating;
  return [...chosen.values()].sort((a, b) => a.ip.localeCompare(b.ip) || a.port - b.port);
}

function podOf(view: ClusterView, ref: V1ObjectReference | undefined, namespace: string): V1Pod | undefined {
  if (ref?.kind !== 'Pod' || !ref.name) return undefined;
  return view.pod(ref.namespace ?? namespace, ref.name);
}

export function endpointOf(a: { ip: string; port: number }, pod: V1Pod | undefined, serviceOpaque: boolean, cfg: ResolveConfig): Endpoint {
  const opaque = serviceOpaque || (pod !== undefined && inRanges(opaquePorts(pod), a.port));
  const identity = pod && isMeshed(pod) ? identityName(pod.spec?.serviceAccountName ?? 'default', pod.metadata?.namespace ?? '', cfg.trustDomain) : undefined;
  return {
    ip: a.ip, port: a.port,
    ...(identity ? { identity } : {}),
    protocolHint: opaque ? 'opaque' : 'unknown',
    labels: pod ? workloadLabels(pod) : {},
  };
}

/** Injected by the webhook and actually running the proxy (a pod edited after injection may have lost it). */
export function isMeshed(pod: V1Pod): boolean {
  if (pod.metadata?.annotations?.[STATUS_ANNOTATION] !== 'injected') return false;
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  return containers.some((c) => c.name === PROXY_CONTAINER);
}

/** Metric labels for the endpoint's workload. A Deployment's name is its ReplicaSet's minus the pod-template-hash. */
export function workloadLabels(pod: V1Pod): Record<string, string> {
  const labels: Record<string, string> = {
    namespace: pod.metadata?.namespace ?? '',
    pod: pod.metadata?.name ?? '',
    serviceaccount: pod.spec?.serviceAccountName ?? 'default',
  };
  const owner = pod.metadata?.ownerReferences?.find((o) => o.controller === true) ?? pod.metadata?.ownerReferences?.[0];
  if (!owner) return labels;
  labels[owner.kind.toLowerCase()] = owner.name;
  const hash = pod.metadata?.labels?.['pod-template-hash'];
  if (owner.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`)) {
    labels.deployment = owner.name.slice(0, -(hash.length + 1));
  }
  return labels;
}

/** An invalid annotation counts as no opaque ports: the webhook has already warned the user about it. */
export function opaquePorts(obj: V1Pod | V1Service): PortRange[] {
  const value = obj.metadata?.annotations?.[OPAQUE_PORTS_ANNOTATION];
  if (value === undefined) return [];
  try { return parsePortRanges(value); } catch { return []; }
}

function inRanges(ranges: readonly PortRange[], port: number): boolean {
  return ranges.some((r) => port >= r.from && port <= r.to);
}
