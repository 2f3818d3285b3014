// Plain HTTPRoute/GRPCRoute objects for the gateway unit tests.
import type { RouteKind } from '../../api/crds/gateway-route.ts';
import type { ClusterCache, PolicyObject } from '../discovery/cache.ts';

export function route(name: string, spec: unknown, o: { namespace?: string; created?: string; generation?: number } = {}): PolicyObject {
  return {
    metadata: { name, namespace: o.namespace ?? 'shop', generation: o.generation ?? 1, creationTimestamp: (o.created ?? '2026-01-01T00:00:00Z') as unknown as Date, uid: `uid-${name}`, resourceVersion: '1' },
    spec,
  };
}

/** A parentRef to a Service. */
export const svcParent = (name: string, extra: { namespace?: string; port?: number } = {}) => ({ group: '', kind: 'Service', name, ...extra });

export const backend = (name: string, port: number, weight?: number) => ({ name, port, ...(weight === undefined ? {} : { weight }) });

export function addRoute(c: ClusterCache, kind: RouteKind, obj: PolicyObject): void {
  c.applyGatewayRoute(kind, 'added', obj);
}
