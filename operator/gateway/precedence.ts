// The Gateway API's match precedence (pure). Across every rule of every
// route attached to a Service, an HTTPRoute match ranks by: an Exact path;
// then a PathPrefix with the most characters; then having a method; then the
// most header matches; then the most query-parameter matches. RegularExpression
// paths are implementation-specific: Skein ranks them after Exact and before
// every prefix, longer patterns first (as Linkerd's proxy does). A GRPCRoute
// match ranks by the characters of its service, then of its method, then the
// most header matches. Ties: the oldest route (creationTimestamp), then
// `namespace/name` in alphabetical order, then the route's rule order and
// match order. gRPC matches come before HTTP ones: they apply only to gRPC
// requests, so they never hide an HTTP rule from a plain request.
import type { RouteMatch } from '../../api/discovery-protocol.ts';

export interface RankedMatch {
  match: RouteMatch;
  /** For GRPCRoute matches: characters of the service and of the method named. */
  grpcService?: number;
  grpcMethod?: number;
  created: string;
  /** `namespace/name` of the route. */
  route: string;
  ruleIndex: number;
  matchIndex: number;
}

const PATH_RANK = { Exact: 0, RegularExpression: 1, PathPrefix: 2 } as const;

function specificity(a: RankedMatch, b: RankedMatch): number {
  if (a.match.grpc !== b.match.grpc) return a.match.grpc ? -1 : 1;
  if (a.match.grpc) {
    return (b.grpcService ?? 0) - (a.grpcService ?? 0)
      || (b.grpcMethod ?? 0) - (a.grpcMethod ?? 0)
      || b.match.headers.length - a.match.headers.length;
  }
  const pa = a.match.path ?? { type: 'PathPrefix' as const, value: '/' };
  const pb = b.match.path ?? { type: 'PathPrefix' as const, value: '/' };
  return PATH_RANK[pa.type] - PATH_RANK[pb.type]
    || (pa.type === 'Exact' ? 0 : prefixLength(pb.value) - prefixLength(pa.value))
    || Number(b.match.method !== undefined) - Number(a.match.method !== undefined)
    || b.match.headers.length - a.match.headers.length
    || b.match.queryParams.length - a.match.queryParams.length;
}

/** A prefix's length as the spec counts it: `/foo/` and `/foo` are the same prefix. */
const prefixLength = (v: string): number => (v.length > 1 && v.endsWith('/') ? v.length - 1 : v.length);

/** Most specific first, ties broken as the spec says. */
export function byPrecedence(a: RankedMatch, b: RankedMatch): number {
  return specificity(a, b)
    || a.created.localeCompare(b.created)
    || a.route.localeCompare(b.route)
    || a.ruleIndex - b.ruleIndex
    || a.matchIndex - b.matchIndex;
}
