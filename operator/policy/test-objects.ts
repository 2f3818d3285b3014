// Plain objects for the policy unit tests: a view over a ClusterCache filled
// by the same apply calls the informers make.
import type { V1EndpointSlice, V1Pod, V1Service } from '@kubernetes/client-node';
import { ClusterCache, type PolicyObject } from '../discovery/cache.ts';

export const NS = 'shop';

export function service(name: string, ports: { name?: string; port: number; targetPort?: number | string }[], selector: Record<string, string> = { app: name }, ip = '10.96.0.1'): V1Service {
  return { metadata: { name, namespace: NS, resourceVersion: '1' }, spec: { clusterIP: ip, selector, ports: ports.map((p) => ({ protocol: 'TCP', ...p })) } };
}

export function slice(svc: string, port: { name?: string; port: number }, ips: string[], rv = '1'): V1EndpointSlice {
  return {
    metadata: { name: `${svc}-x`, namespace: NS, resourceVersion: rv, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4', ports: [{ ...port }],
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
  };
}

export function pod(name: string, labels: Record<string, string>, extra: Partial<V1Pod['spec']> = {}, sa = 'web'): V1Pod {
  return {
    metadata: { name, namespace: NS, labels },
    spec: { serviceAccountName: sa, containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080 }, { name: 'admin', containerPort: 9000 }] }, { name: 'skein-proxy' }], ...extra },
    status: { phase: 'Running', podIP: '10.1.0.9' },
  };
}

export function policyObject(name: string, spec: unknown, creationTimestamp = '2026-01-01T00:00:00Z', generation = 1): PolicyObject {
  return { metadata: { name, namespace: NS, generation, creationTimestamp: creationTimestamp as unknown as Date, uid: `uid-${name}` }, spec };
}

export const cacheWith = (...fill: ((c: ClusterCache) => void)[]) => {
  const c = new ClusterCache();
  for (const f of fill) f(c);
  return c;
};
