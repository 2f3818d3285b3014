// The discovery API's wire contract, shared by the operator (server) and the
// proxy (client). One zod schema per message, so both sides validate what they
// read and a version skew shows up as a clear error, not a silent misroute.
//
// Transport: HTTP/2 over mutual TLS (the proxy presents its workload
// certificate). A proxy opens one stream per destination:
//   POST /v1/watch   body: WatchRequest (JSON)
//   response: 200, `content-type: application/x-ndjson`, one Update per line,
//   never ending on its own. Every Update is a full snapshot of the
//   destination (endpoint sets are small; snapshots make the client trivially
//   level-triggered). A Heartbeat line is sent at least every HEARTBEAT_MS so a
//   client can tell a dead stream from a quiet one.
import { z } from 'zod';

export const WATCH_PATH = '/v1/watch';
export const HEARTBEAT_MS = 10_000;

/** A destination as the app addressed it: a ClusterIP (or pod IP) and port, or a Service name. */
export const WatchRequest = z.object({
  /** `ip:port`, `[v6]:port` or `name.namespace.svc.<cluster-domain>:port`. */
  target: z.string().min(3).max(300),
  /** Identity of the asking proxy's pod namespace; lets the server apply namespace-local defaults later. */
  namespace: z.string().max(63).optional(),
});
export type WatchRequest = z.infer<typeof WatchRequest>;

export const ProtocolHint = z.enum(['unknown', 'http', 'opaque']);
export type ProtocolHint = z.infer<typeof ProtocolHint>;

export const Endpoint = z.object({
  ip: z.string(),
  port: z.number().int().min(1).max(65535),
  /**
   * The workload identity a meshed endpoint's proxy must present; absent when not meshed.
   * A proxy dials a meshed endpoint at its own ip:port: the server pod's iptables send it
   * to that pod's proxy, which recovers the port with SO_ORIGINAL_DST (as Linkerd does).
   */
  identity: z.string().optional(),
  protocolHint: ProtocolHint.default('unknown'),
  /** For metrics labels: the target workload. */
  labels: z.record(z.string(), z.string()).default({}),
});
export type Endpoint = z.infer<typeof Endpoint>;

// Traffic policy compiled by the operator (issue #8). Route conditions keep
// the ServiceProfile's shape (api/crds/serviceprofile.ts), already
// validated there; durations travel as milliseconds. The proxy compiles
// pathRegex with api/crds/path-regex.ts compilePathRegex.
export interface RequestMatch { method?: string | undefined; pathRegex?: string | undefined; all?: RequestMatch[] | undefined; any?: RequestMatch[] | undefined; not?: RequestMatch | RequestMatch[] | undefined }
export interface ResponseMatch { status?: { min?: number | undefined; max?: number | undefined } | undefined; all?: ResponseMatch[] | undefined; any?: ResponseMatch[] | undefined; not?: ResponseMatch | ResponseMatch[] | undefined }
export const RequestMatch: z.ZodType<RequestMatch> = z.lazy(() => z.object({
  method: z.string().optional(), pathRegex: z.string().optional(),
  all: z.array(RequestMatch).optional(), any: z.array(RequestMatch).optional(), not: z.union([RequestMatch, z.array(RequestMatch)]).optional(),
}));
export const ResponseMatch: z.ZodType<ResponseMatch> = z.lazy(() => z.object({
  status: z.object({ min: z.number().int().optional(), max: z.number().int().optional() }).optional(),
  all: z.array(ResponseMatch).optional(), any: z.array(ResponseMatch).optional(), not: z.union([ResponseMatch, z.array(ResponseMatch)]).optional(),
}));

export const Route = z.object({
  /** The route's name: the `route` label of per-route metrics. */
  name: z.string(),
  condition: RequestMatch,
  responseClasses: z.array(z.object({ condition: ResponseMatch, isFailure: z.boolean() })).default([]),
  isRetryable: z.boolean().default(false),
  timeoutMs: z.number().positive().optional(),
});
export type Route = z.infer<typeof Route>;

export const Profile = z.object({
  /** The ServiceProfile's name (the Service FQDN), for logs and metrics. */
  name: z.string(),
  routes: z.array(Route),
  retryBudget: z.object({ retryRatio: z.number().min(0).max(1), minRetriesPerSecond: z.number().int().min(0), ttlMs: z.number().positive() }),
});
export type Profile = z.infer<typeof Profile>;

/** One backend of a TrafficSplit on the target's Service: requests go to it in proportion to `weight`. */
export const SplitBackend = z.object({
  /** `name.namespace.svc.<cluster-domain>:port` of the backend Service. */
  service: z.string(),
  weight: z.number().int().min(0),
  /** The backend's ready endpoints (may be empty: the proxy then skips this backend). */
  endpoints: z.array(Endpoint),
});
export type SplitBackend = z.infer<typeof SplitBackend>;

/**
 * One HTTPRouteGroup match of a TrafficSplit (SMI `matches`): a request
 * satisfies it when its method is one of `methods` (any when absent), its
 * path without the query matches `pathRegex` (anchored, as routes are), and
 * each header's value matches its regex (anchored; names lower case).
 */
export const SplitMatch = z.object({
  pathRegex: z.string().optional(),
  methods: z.array(z.string()).optional(),
  headers: z.record(z.string(), z.string()).optional(),
});
export type SplitMatch = z.infer<typeof SplitMatch>;

// Gateway API routes (HTTPRoute, GRPCRoute with a Service as parent; issue
// #20), compiled by the operator for one Service port and one client
// namespace: every match of every attached rule in precedence order (the
// first a request satisfies picks its rule), the rules, and each Service a
// rule or mirror names, with its endpoints, once. Regexes are checked by the
// operator (api/crds/path-regex.ts pathRegexProblem) and compiled by the
// proxy with compilePathRegex; durations travel as milliseconds.
export const ValueMatch = z.object({ type: z.enum(['Exact', 'RegularExpression']), name: z.string(), value: z.string() });
export type ValueMatch = z.infer<typeof ValueMatch>;

export const RouteMatch = z.object({
  path: z.object({ type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']), value: z.string() }).optional(),
  method: z.string().optional(),
  /** Header names lower case. */
  headers: z.array(ValueMatch).default([]),
  queryParams: z.array(ValueMatch).default([]),
  /** A GRPCRoute match: the request must be gRPC (content-type application/grpc…). */
  grpc: z.boolean().default(false),
});
export type RouteMatch = z.infer<typeof RouteMatch>;

export const HeaderEdit = z.object({
  /** Names lower case. */
  set: z.array(z.object({ name: z.string(), value: z.string() })).default([]),
  add: z.array(z.object({ name: z.string(), value: z.string() })).default([]),
  remove: z.array(z.string()).default([]),
});
export type HeaderEdit = z.infer<typeof HeaderEdit>;

export const PathEdit = z.object({ type: z.enum(['ReplaceFullPath', 'ReplacePrefixMatch']), value: z.string() });
export type PathEdit = z.infer<typeof PathEdit>;

export const RouteFilter = z.discriminatedUnion('type', [
  z.object({ type: z.literal('RequestHeaderModifier'), edit: HeaderEdit }),
  z.object({ type: z.literal('ResponseHeaderModifier'), edit: HeaderEdit }),
  z.object({
    type: z.literal('RequestRedirect'),
    scheme: z.string().optional(), hostname: z.string().optional(), port: z.number().int().optional(),
    path: PathEdit.optional(), statusCode: z.number().int(),
  }),
  z.object({ type: z.literal('URLRewrite'), hostname: z.string().optional(), path: PathEdit.optional() }),
  /** `service` absent: the mirror's Service does not exist, nothing is mirrored. */
  z.object({ type: z.literal('RequestMirror'), service: z.string().optional(), percent: z.number().min(0).max(100) }),
]);
export type RouteFilter = z.infer<typeof RouteFilter>;

export const RouteBackendRef = z.object({
  /** `name.namespace.svc.<domain>:port`, a key of `RouteTable.backends`; absent: the backendRef resolves to nothing and its share is answered 500. */
  service: z.string().optional(),
  weight: z.number().int().min(0),
});
export type RouteBackendRef = z.infer<typeof RouteBackendRef>;

export const RouteRule = z.object({
  /** The route, for the metrics' route_* labels. */
  route: z.object({ kind: z.enum(['HTTPRoute', 'GRPCRoute']), namespace: z.string(), name: z.string() }),
  /** The rule's `name`, else its index. */
  rule: z.string(),
  backends: z.array(RouteBackendRef),
  filters: z.array(RouteFilter).default([]),
  /** timeouts.request: the whole request, retries included. */
  requestTimeoutMs: z.number().positive().optional(),
  /** timeouts.backendRequest: each attempt. */
  backendTimeoutMs: z.number().positive().optional(),
  /** HTTPRoute `retry`: statuses retried, attempts after the first, the wait between. */
  retry: z.object({ codes: z.array(z.number().int()), attempts: z.number().int().min(0), backoffMs: z.number().min(0).optional() }).optional(),
});
export type RouteRule = z.infer<typeof RouteRule>;

export const RouteTable = z.object({
  /** Most specific first (the Gateway API's precedence); `rule` indexes `rules`. */
  matches: z.array(z.object({ match: RouteMatch, rule: z.number().int().min(0) })),
  rules: z.array(RouteRule),
  backends: z.array(z.object({ service: z.string(), endpoints: z.array(Endpoint) })),
});
export type RouteTable = z.infer<typeof RouteTable>;

export const Update = z.object({
  type: z.literal('update'),
  /** False when nothing in the cluster lives at the target: the proxy passes the connection through. */
  exists: z.boolean(),
  /** The Service behind the target, when there is one. */
  service: z.object({ name: z.string(), namespace: z.string(), port: z.number().int() }).optional(),
  /** The target port is opaque (config.skein.dev/opaque-ports on the Service or pods): no protocol detection. */
  opaque: z.boolean().default(false),
  /** Ready endpoints only. Empty with `exists: true` means the Service has no ready endpoint (503). */
  endpoints: z.array(Endpoint),
  /** The Service's ServiceProfile, when one is Accepted. */
  profile: Profile.optional(),
  /** A TrafficSplit whose root is this Service: when present, requests are split over these backends instead of `endpoints`. */
  split: z.array(SplitBackend).optional(),
  /**
   * With `split`: only requests satisfying at least one of these are split;
   * the others go to `endpoints`, the root Service's own. Absent: every
   * request is split. (A proxy older than this field splits every request.)
   */
  splitMatches: z.array(SplitMatch).optional(),
  /**
   * HTTPRoutes/GRPCRoutes attached to this Service port for the asking
   * proxy's namespace. When present they decide every HTTP request (one
   * matching none gets 404), and `profile` routes and `split` are not used
   * (docs/gateway-api.md: precedence). A proxy older than this field ignores it.
   */
  routes: RouteTable.optional(),
});
export type Update = z.infer<typeof Update>;

// Inbound policy: what the proxy in a pod may accept, per port.
//   POST /v1/inbound   body: InboundRequest   response: NDJSON of InboundUpdate (+ heartbeats)
export const INBOUND_PATH = '/v1/inbound';

export const InboundRequest = z.object({ namespace: z.string().min(1).max(63), pod: z.string().min(1).max(253) });
export type InboundRequest = z.infer<typeof InboundRequest>;

/**
 * The policy of ports no AuthorizationPolicy targets: the values of the
 * config.skein.dev/default-inbound-policy annotation, SKEIN_DEFAULT_INBOUND_POLICY
 * (proxy and controller) and the InboundUpdate's defaultPolicy.
 */
export const DEFAULT_INBOUND_POLICIES = ['all-unauthenticated', 'all-authenticated', 'cluster-authenticated', 'deny'] as const;
export const DefaultInboundPolicy = z.enum(DEFAULT_INBOUND_POLICIES, { error: `must be one of ${DEFAULT_INBOUND_POLICIES.join(', ')}` });
export type DefaultInboundPolicy = z.infer<typeof DefaultInboundPolicy>;
/** Without an annotation or a controller setting: everything is admitted, as before meshing. */
export const CLUSTER_DEFAULT_INBOUND_POLICY: DefaultInboundPolicy = 'all-unauthenticated';

/** Who one AuthorizationPolicy lets in, resolved to what a proxy can check. */
export const Authorization = z.object({
  /** `namespace/name` of the AuthorizationPolicy, for the metrics and the 403's reason. */
  policy: z.string(),
  /** Exact client identities (ServiceAccounts resolved to identity names). */
  identities: z.array(z.string()).default([]),
  /** Any client whose identity ends with one of these (a whole namespace: `.<ns>.serviceaccount.identity.skein-system.<td>`). */
  identitySuffixes: z.array(z.string()).default([]),
  /** Any client with a valid mesh identity. */
  anyMeshed: z.boolean().default(false),
  /** Clients without mTLS allowed from these CIDRs (probes, ingress). */
  unauthenticatedNetworks: z.array(z.string()).default([]),
});
export type Authorization = z.infer<typeof Authorization>;

export const InboundUpdate = z.object({
  type: z.literal('inbound'),
  /** For ports no AuthorizationPolicy targets: pod annotation, else namespace, else cluster default. */
  defaultPolicy: DefaultInboundPolicy,
  /** Ports some AuthorizationPolicy targets: only their authorizations admit a client (none matching ⇒ refused). */
  ports: z.array(z.object({ port: z.number().int().min(1).max(65535), authorizations: z.array(Authorization) })),
  /** The pod's kubelet probes (HTTP GET port+path): always admitted, whatever the policy, so `deny` never kills a pod. */
  probes: z.array(z.object({ port: z.number().int(), path: z.string() })).default([]),
  /** The cluster's pod networks, for `cluster-authenticated` (plaintext from these is admitted). */
  clusterNetworks: z.array(z.string()).default([]),
});
export type InboundUpdate = z.infer<typeof InboundUpdate>;

export const Heartbeat = z.object({ type: z.literal('heartbeat') });

export const Message = z.discriminatedUnion('type', [Update, InboundUpdate, Heartbeat]);
export type Message = z.infer<typeof Message>;

/** Parse one NDJSON line; throws a ZodError or SyntaxError with what was wrong. */
export function parseMessage(line: string): Message {
  return Message.parse(JSON.parse(line));
}
