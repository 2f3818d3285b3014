// No silent hole: with failurePolicy Ignore, a pod created while the webhook
// was away starts without the proxy and without the injection annotation.
// This audit finds such pods in namespaces that ask for the mesh and says so
// (a Warning Event on the owner, a gauge), every time it runs.
import type { V1Pod, V1Namespace } from '@kubernetes/client-node';
import { INJECT_ANNOTATION, STATUS_ANNOTATION } from '../api/mesh-names.ts';
import { decide } from './inject/decide.ts';

/** Pods the webhook would have injected but never saw. */
export function missedPods(pods: readonly V1Pod[], namespace: Pick<V1Namespace, 'metadata'>): V1Pod[] {
  const name = namespace.metadata?.name ?? '';
  return pods.filter((p) => {
    if (p.metadata?.annotations?.[STATUS_ANNOTATION] !== undefined) return false;
    if (p.metadata?.deletionTimestamp || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') return false;
    return decide(p, namespace, name).inject;
  });
}

export function meshedNamespaces(namespaces: readonly V1Namespace[]): V1Namespace[] {
  return namespaces.filter((n) => n.metadata?.annotations?.[INJECT_ANNOTATION] === 'enabled');
}

export const MISSED_MESSAGE = 'created while skein-webhook was unavailable, so it runs without the Skein proxy; delete the pod (or roll out its workload) to mesh it';
