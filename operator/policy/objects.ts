// The three policy kinds as the operator reads them from the API: where each
// lives (group, version, plural) and the object's shape. TrafficSplit is read
// at its storage version v1alpha4; the conversion webhook turns objects
// written at v1alpha1-3 into it (quantities into integer weights).
import type { KubernetesObject } from '@kubernetes/client-node';

export interface PolicyKind {
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export const SERVICE_PROFILE: PolicyKind = { group: 'skein.dev', version: 'v1alpha1', plural: 'serviceprofiles', kind: 'ServiceProfile' };
export const TRAFFIC_SPLIT: PolicyKind = { group: 'split.smi-spec.io', version: 'v1alpha4', plural: 'trafficsplits', kind: 'TrafficSplit' };
/** Not reconciled (it has no status): read so that a TrafficSplit's matches resolve. */
export const HTTP_ROUTE_GROUP: PolicyKind = { group: 'specs.smi-spec.io', version: 'v1alpha4', plural: 'httproutegroups', kind: 'HTTPRouteGroup' };
export const AUTHORIZATION_POLICY: PolicyKind = { group: 'skein.dev', version: 'v1alpha1', plural: 'authorizationpolicies', kind: 'AuthorizationPolicy' };

/** Gateway API routes (not Skein's CRDs): read at v1, the standard channel's served version. */
export const HTTP_ROUTE: PolicyKind = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', kind: 'HTTPRoute' };
export const GRPC_ROUTE: PolicyKind = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'grpcroutes', kind: 'GRPCRoute' };

export const apiPath = (k: PolicyKind): string => `/apis/${k.group}/${k.version}/${k.plural}`;

/** The creation order, then the name: which of two objects claiming the same thing wins. */
export function olderFirst(a: KubernetesObject, b: KubernetesObject): number {
  const ta = String(a.metadata?.creationTimestamp ?? '');
  const tb = String(b.metadata?.creationTimestamp ?? '');
  return ta.localeCompare(tb) || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '');
}
