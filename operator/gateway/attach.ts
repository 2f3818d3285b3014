// Which routes apply to a call (pure): the GAMMA attachment rules. A route
// attaches to a Service when one of its parentRefs names it (kind Service,
// group "" or core, the route's namespace unless it says another) and either
// names no port or the port called. A route in the Service's namespace is a
// producer route, for every client; a route in another namespace is a
// consumer route, for the clients of its own namespace only. When a client's
// namespace has consumer routes for a Service, they replace the producer
// routes for that client (GEP-1426: the consumer's word wins for its traffic).
import { isServiceRef, type ParentRef, type RouteKind } from '../../api/crds/gateway-route.ts';
import type { ClusterView, GatewayRoute } from '../discovery/cache.ts';
import { validateRoute } from './validate.ts';
import type { AnyRouteSpec } from '../../api/crds/gateway-route.ts';

export interface AttachedRoute {
  kind: RouteKind;
  namespace: string;
  name: string;
  /** RFC 3339, for the oldest-first tie-break. */
  created: string;
  route: AnyRouteSpec;
}

/** Whether a parentRef written in a route of `routeNs` names Service `ns/name` at `port`. */
export function refNames(ref: ParentRef, routeNs: string, ns: string, name: string, port: number): boolean {
  return isServiceRef(ref) && ref.name === name && (ref.namespace ?? routeNs) === ns && (ref.port === undefined || ref.port === port);
}

/** The routes a client in `clientNs` gets for calls to Service `ns/name` on `port`: consumer routes of its namespace, else producer routes. */
export function attachedRoutes(view: ClusterView, ns: string, name: string, port: number, clientNs: string | undefined): AttachedRoute[] {
  const candidates = view.gatewayRoutes(ns, name).flatMap((r) => usable(r, ns, name, port));
  const consumer = clientNs === undefined || clientNs === ns ? [] : candidates.filter((r) => r.namespace === clientNs);
  return consumer.length > 0 ? consumer : candidates.filter((r) => r.namespace === ns);
}

function usable(r: GatewayRoute, ns: string, name: string, port: number): AttachedRoute[] {
  const v = validateRoute(r.kind, r.obj);
  if (!v.ok) return [];
  const routeNs = r.obj.metadata?.namespace ?? '';
  if (!v.route.spec.parentRefs.some((ref) => refNames(ref, routeNs, ns, name, port))) return [];
  return [{ kind: r.kind, namespace: routeNs, name: r.obj.metadata?.name ?? '', created: timestampOf(r.obj.metadata?.creationTimestamp), route: v.route }];
}

/** RFC 3339 whether the object came parsed (a Date) or as JSON (a string). */
export const timestampOf = (t: Date | string | undefined): string => (t instanceof Date ? t.toISOString() : String(t ?? ''));
