// A TrafficSplit compiled for one port of its root Service: each backend
// Service with its weight and its ready endpoints. Backends are matched to
// the root by the Service port the client called (SMI: backends expose the
// root's ports), then by that port's name; each backend then maps that
// Service port to its own pods' target port, so v1 on 8080 and v2 on 9090
// behind the same port 80 both come out right.
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import type { SplitBackend } from '../../shared/discovery-protocol.ts';
import { TrafficSplitSpec, type TrafficSplitV1alpha4 } from '../../crds/schema/trafficsplit.ts';
import { parseSpec, type Parsed } from '../../crds/schema/problems.ts';
import type { ClusterView } from '../discovery/cache.ts';
import { resolveService, type ResolveConfig } from '../discovery/resolve.ts';
import { olderFirst, type PolicyObject } from './objects.ts';

/** v1alpha4 weights are integers; anything else (never stored at v1alpha4) counts as 0. */
const weightOf = (w: unknown): number => (typeof w === 'number' && Number.isInteger(w) && w >= 0 ? w : 0);

const parsedSplits = new WeakMap<object, Parsed<TrafficSplitV1alpha4>>();

/** The spec read at v1alpha4, with the problems a user must fix; remembered per object. */
export function parseTrafficSplit(ts: PolicyObject): Parsed<TrafficSplitV1alpha4> {
  const cached = parsedSplits.get(ts);
  if (cached) return cached;
  let parsed = parseSpec(TrafficSplitSpec.v1alpha4, ts.spec);
  if (parsed.ok && parsed.spec.backends.every((b) => weightOf(b.weight) === 0)) {
    parsed = { ok: false, problems: ['spec.backends: every weight is 0, so no request could be sent anywhere; give at least one backend a weight above 0'] };
  }
  parsedSplits.set(ts, parsed);
  return parsed;
}

/** The backend's Service port for a call to the root's `port`: the same number, else the same name. */
export function backendPort(backend: V1Service, rootPort: V1ServicePort | undefined, port: number): number | undefined {
  const ports = (backend.spec?.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP');
  const same = ports.find((p) => p.port === port);
  if (same) return same.port;
  const named = rootPort?.name ? ports.find((p) => p.name === rootPort.name) : undefined;
  return named?.port;
}

/** The split of calls to `root:port`, from the oldest valid TrafficSplit naming it; undefined when there is none. */
export function compileSplit(view: ClusterView, root: V1Service, port: number, cfg: ResolveConfig & { clusterDomain: string }): SplitBackend[] | undefined {
  const namespace = root.metadata?.namespace ?? '';
  const name = root.metadata?.name ?? '';
  const split = view.trafficSplits(namespace, name)
    .filter((ts) => parseTrafficSplit(ts).ok)
    .sort(olderFirst)[0];
  if (!split) return undefined;
  const parsed = parseTrafficSplit(split);
  if (!parsed.ok) return undefined;
  const rootPort = root.spec?.ports?.find((p) => p.port === port);
  return parsed.spec.backends.map((b): SplitBackend => {
    const svc = view.service(namespace, b.service);
    const bport = svc ? backendPort(svc, rootPort, port) : undefined;
    const endpoints = svc && bport !== undefined ? resolveService(view, svc, bport, cfg).endpoints : [];
    return { service: `${b.service}.${namespace}.svc.${cfg.clusterDomain}:${bport ?? port}`, weight: weightOf(b.weight), endpoints };
  });
}
