// The Gateway API's HTTPRoute and GRPCRoute (gateway.networking.k8s.io/v1,
// standard channel, the version in crds/gateway-api/VERSION) as Skein reads
// them for mesh routing (GAMMA): a route whose parentRef is a Service. The
// CRDs are not Skein's (it vendors them unchanged); the API server already
// validates them with their own schema and CEL rules, so these schemas
// only type what Skein reads and say plainly what it cannot use. Unknown
// fields pass through (a newer release's additions must not reject a route).
import { z } from 'zod';
import { parseSpec, type Parsed } from './problems.ts';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
export const GATEWAY_VERSION = 'v1';
/** The Gateway API release whose standard-channel CRDs Skein vendors and is tested against. */
export const GATEWAY_API_BUNDLE_VERSION = 'v1.7.0';
/** The annotation each Gateway API CRD carries with its release. */
export const BUNDLE_VERSION_ANNOTATION = `${GATEWAY_GROUP}/bundle-version`;
/** What Skein writes in `status.parents[].controllerName`: its routes, and only its, are these. */
export const MESH_CONTROLLER_NAME = 'skein.dev/mesh-controller';

export const ROUTE_KINDS = ['HTTPRoute', 'GRPCRoute'] as const;
export type RouteKind = (typeof ROUTE_KINDS)[number];

export const ParentRef = z.looseObject({
  group: z.string().optional(),
  kind: z.string().optional(),
  namespace: z.string().optional(),
  name: z.string(),
  sectionName: z.string().optional(),
  port: z.number().int().min(1).max(65535).optional(),
});
export type ParentRef = z.infer<typeof ParentRef>;

const HeaderMatch = z.looseObject({ type: z.enum(['Exact', 'RegularExpression']).default('Exact'), name: z.string(), value: z.string() });
export type HeaderMatch = z.infer<typeof HeaderMatch>;

export const HTTPRouteMatch = z.looseObject({
  path: z.looseObject({ type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).default('PathPrefix'), value: z.string().default('/') }).optional(),
  headers: z.array(HeaderMatch).optional(),
  queryParams: z.array(HeaderMatch).optional(),
  method: z.string().optional(),
});
export type HTTPRouteMatch = z.infer<typeof HTTPRouteMatch>;

export const GRPCRouteMatch = z.looseObject({
  method: z.looseObject({ type: z.enum(['Exact', 'RegularExpression']).default('Exact'), service: z.string().optional(), method: z.string().optional() }).optional(),
  headers: z.array(HeaderMatch).optional(),
});
export type GRPCRouteMatch = z.infer<typeof GRPCRouteMatch>;

export const BackendObjectReference = z.looseObject({
  group: z.string().optional(),
  kind: z.string().optional(),
  name: z.string(),
  namespace: z.string().optional(),
  port: z.number().int().min(1).max(65535).optional(),
});
export type BackendObjectReference = z.infer<typeof BackendObjectReference>;

const HeaderModifier = z.looseObject({
  set: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
  add: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
  remove: z.array(z.string()).optional(),
});
export type HeaderModifier = z.infer<typeof HeaderModifier>;

const PathModifier = z.looseObject({
  type: z.enum(['ReplaceFullPath', 'ReplacePrefixMatch']),
  replaceFullPath: z.string().optional(),
  replacePrefixMatch: z.string().optional(),
});
export type PathModifier = z.infer<typeof PathModifier>;

export const RouteFilter = z.looseObject({
  type: z.string(),
  requestHeaderModifier: HeaderModifier.optional(),
  responseHeaderModifier: HeaderModifier.optional(),
  requestMirror: z.looseObject({
    backendRef: BackendObjectReference,
    percent: z.number().int().min(0).max(100).optional(),
    fraction: z.object({ numerator: z.number().int().min(0), denominator: z.number().int().min(1).default(100) }).optional(),
  }).optional(),
  requestRedirect: z.looseObject({
    scheme: z.string().optional(),
    hostname: z.string().optional(),
    path: PathModifier.optional(),
    port: z.number().int().min(1).max(65535).optional(),
    statusCode: z.number().int().default(302),
  }).optional(),
  urlRewrite: z.looseObject({ hostname: z.string().optional(), path: PathModifier.optional() }).optional(),
});
export type RouteFilter = z.infer<typeof RouteFilter>;

export const BackendRef = BackendObjectReference.extend({
  weight: z.number().int().min(0).max(1_000_000).default(1),
  filters: z.array(RouteFilter).optional(),
});
export type BackendRef = z.infer<typeof BackendRef>;

export const HTTPRouteRule = z.looseObject({
  name: z.string().optional(),
  matches: z.array(HTTPRouteMatch).optional(),
  filters: z.array(RouteFilter).optional(),
  backendRefs: z.array(BackendRef).optional(),
  timeouts: z.looseObject({ request: z.string().optional(), backendRequest: z.string().optional() }).optional(),
  retry: z.looseObject({
    codes: z.array(z.number().int().min(400).max(599)).optional(),
    attempts: z.number().int().min(0).optional(),
    backoff: z.string().optional(),
  }).optional(),
});
export type HTTPRouteRule = z.infer<typeof HTTPRouteRule>;

export const GRPCRouteRule = z.looseObject({
  name: z.string().optional(),
  matches: z.array(GRPCRouteMatch).optional(),
  filters: z.array(RouteFilter).optional(),
  backendRefs: z.array(BackendRef).optional(),
});
export type GRPCRouteRule = z.infer<typeof GRPCRouteRule>;

export const HTTPRouteSpec = z.looseObject({
  parentRefs: z.array(ParentRef).default([]),
  hostnames: z.array(z.string()).optional(),
  rules: z.array(HTTPRouteRule).default([{ matches: [{ path: { type: 'PathPrefix', value: '/' } }] }]),
});
export type HTTPRouteSpec = z.infer<typeof HTTPRouteSpec>;

export const GRPCRouteSpec = z.looseObject({
  parentRefs: z.array(ParentRef).default([]),
  hostnames: z.array(z.string()).optional(),
  rules: z.array(GRPCRouteRule).default([{}]),
});
export type GRPCRouteSpec = z.infer<typeof GRPCRouteSpec>;

/** Either kind read into one shape: GRPCRoute rules have no timeouts or retry in the standard channel. */
export type AnyRouteSpec =
  | { kind: 'HTTPRoute'; spec: HTTPRouteSpec }
  | { kind: 'GRPCRoute'; spec: GRPCRouteSpec };

export function parseRouteSpec(kind: RouteKind, spec: unknown): Parsed<AnyRouteSpec> {
  if (kind === 'HTTPRoute') {
    const p = parseSpec(HTTPRouteSpec, spec);
    return p.ok ? { ok: true, spec: { kind, spec: p.spec } } : p;
  }
  const p = parseSpec(GRPCRouteSpec, spec);
  return p.ok ? { ok: true, spec: { kind, spec: p.spec } } : p;
}

/** A parentRef names a Service (group "" or "core", kind Service), the GAMMA way. */
export const isServiceRef = (r: { group?: string | undefined; kind?: string | undefined }): boolean =>
  (r.group === '' || r.group === 'core') && r.kind === 'Service';

/** A backendRef names a Service: group and kind default to "" and Service for backends. */
export const isServiceBackend = (r: { group?: string | undefined; kind?: string | undefined }): boolean =>
  (r.group ?? '') === '' && (r.kind ?? 'Service') === 'Service';
