// The trust roots every proxy verifies peers (and the identity service)
// against: ConfigMap skein-trust-roots, key ca-bundle.crt, in each namespace
// that has meshed pods or asks for injection — the volume the webhook mounts.
// Written with server-side apply under a field manager of its own, so the
// objects say who owns them and a user's own labels on them survive.
import type { V1ConfigMap, V1Namespace, V1Pod } from '@kubernetes/client-node';
import { INJECT_ANNOTATION, MESHED_LABEL, TRUST_ROOTS_CONFIGMAP } from '../../api/mesh-names.ts';

export const TRUST_ROOTS_FIELD_MANAGER = 'skein-identity-trust-roots';
export const TRUST_ROOTS_KEY = 'ca-bundle.crt';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'skein-identity';

/** Namespaces that need the trust roots: injection enabled on the namespace, or meshed pods in it. */
export function meshedNamespaces(namespaces: readonly V1Namespace[], meshedPods: readonly V1Pod[]): string[] {
  const live = new Map(namespaces.map((n) => [n.metadata?.name ?? '', n]));
  const wanted = new Set<string>();
  for (const [name, ns] of live) {
    if (name && ns.metadata?.annotations?.[INJECT_ANNOTATION] === 'enabled') wanted.add(name);
  }
  for (const pod of meshedPods) {
    const ns = pod.metadata?.namespace;
    if (ns && live.has(ns) && pod.metadata?.labels?.[MESHED_LABEL] !== undefined) wanted.add(ns);
  }
  // A namespace being deleted takes no new objects; asking would only produce errors.
  for (const [name, ns] of live) if (ns.status?.phase === 'Terminating') wanted.delete(name);
  return [...wanted].sort();
}

/** The server-side-apply body: only the fields this manager owns. */
export function trustRootsConfigMap(namespace: string, bundle: string): V1ConfigMap & { apiVersion: string; kind: string } {
  return {
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name: TRUST_ROOTS_CONFIGMAP, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY, 'app.kubernetes.io/part-of': 'skein' } },
    data: { [TRUST_ROOTS_KEY]: bundle },
  };
}

/** The namespaces whose ConfigMap is missing or holds another bundle. */
export function staleNamespaces(wanted: readonly string[], published: readonly V1ConfigMap[], bundle: string): string[] {
  const have = new Map(published.map((c) => [c.metadata?.namespace ?? '', c]));
  return wanted.filter((ns) => {
    const cm = have.get(ns);
    return cm?.data?.[TRUST_ROOTS_KEY] !== bundle || cm.metadata?.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY;
  });
}
