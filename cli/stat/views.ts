// Which proxies to scrape and which of their series make each row, the way
// Linkerd reads its metrics: a workload's own stats come from the inbound
// side of its pods (what its servers answered); an edge (--from/--to) from
// the outbound side of the client's pods, where dst_* labels name the server;
// routes from the outbound side, where the proxy applied the ServiceProfile.
import type { PodRef, RowKey, View } from './aggregate.ts';
import type { Edge, StatQuery } from './query.ts';

/** Which meshed pods to scrape: by namespace (undefined = all) and, optionally, one workload. */
export interface PodSelection {
  namespace: string | undefined;
  workload?: Edge | undefined;
}

export function podsToScrape(q: StatQuery): PodSelection {
  if (q.from) return { namespace: q.from.namespace, workload: q.from };
  if (q.kind !== 'route' && q.name !== undefined) return { namespace: q.namespace, workload: { kind: q.kind, name: q.name, namespace: q.namespace ?? '' } };
  return { namespace: q.namespace };
}

export const podMatches = (pod: PodRef, sel: PodSelection): boolean =>
  (sel.namespace === undefined || pod.namespace === sel.namespace)
  && (sel.workload === undefined || (sel.workload.kind === 'deploy' ? pod.deployment === sel.workload.name : pod.name === sel.workload.name));

/** The row of the pod itself: its Deployment (pods without one have no deploy row) or its name. */
function ownRow(kind: 'deploy' | 'pod', pod: PodRef): RowKey | undefined {
  if (kind === 'pod') return { namespace: pod.namespace, name: pod.name };
  return pod.deployment === undefined ? undefined : { namespace: pod.namespace, name: pod.deployment };
}

/** The server a client's outbound series went to, from its dst_* labels. */
function dstRow(kind: 'deploy' | 'pod', labels: Readonly<Record<string, string>>): RowKey | undefined {
  const name = kind === 'pod' ? labels.dst_pod : labels.dst_deployment;
  const namespace = labels.dst_namespace;
  return name && namespace ? { namespace, name } : undefined;
}

const isTo = (edge: Edge, labels: Readonly<Record<string, string>>): boolean =>
  labels.dst_namespace === edge.namespace && (edge.kind === 'pod' ? labels.dst_pod : labels.dst_deployment) === edge.name;

// The proxy's own name for traffic no ServiceProfile route matched (proxy-image/proxy/routes.ts), used for series without a route label too.
export const DEFAULT_ROUTE = '[default]';

export function viewOf(q: StatQuery): View {
  const named = (k: RowKey | undefined): RowKey | undefined =>
    k && (q.name === undefined || k.name === q.name) && (q.namespace === undefined || q.from !== undefined || k.namespace === q.namespace) ? k : undefined;
  if (q.kind === 'route') {
    return {
      direction: 'outbound',
      rowOf: (pod, l) => {
        if (q.to && !isTo(q.to, l)) return undefined;
        return named({ namespace: pod.namespace, name: l.route || DEFAULT_ROUTE, authority: l.authority ?? '' });
      },
    };
  }
  const kind = q.kind;
  if (q.from) {
    // Rows are the servers the --from workload called; -n scopes them unless -A.
    return { direction: 'outbound', rowOf: (_pod, l) => { const k = named(dstRow(kind, l)); return k && (q.namespace === undefined || k.namespace === q.namespace) ? k : undefined; } };
  }
  if (q.to) {
    const to = q.to;
    return { direction: 'outbound', rowOf: (pod, l) => (isTo(to, l) ? named(ownRow(kind, pod)) : undefined) };
  }
  return { direction: 'inbound', rowOf: (pod) => named(ownRow(kind, pod)), idleRowOf: (pod) => named(ownRow(kind, pod)) };
}
