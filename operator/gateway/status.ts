// What a route's `status.parents` should say for the Services it names
// (pure): per parentRef, Accepted and ResolvedRefs with the Gateway API's
// reasons, the controller name, observedGeneration. Entries written by other
// controllers (a Gateway's, another mesh's) are kept as they are.
//
//   Accepted False   NoMatchingParent  the Service (or its port) does not exist
//                    UnsupportedValue  a regex, filter or duration Skein cannot use
//   ResolvedRefs False BackendNotFound  a backendRef or mirror names no Service / port
//                      RefNotPermitted  a backend in another namespace (Skein reads no ReferenceGrant)
//                      InvalidKind      a backend that is not a Service
// A route whose matches tie with an older route's is Accepted, and its
// message names the route that wins those requests (the spec's tie-break).
import type { V1Service } from '@kubernetes/client-node';
import { mergeConditions, type Condition } from '../../api/crds/conditions.ts';
import { isServiceBackend, isServiceRef, MESH_CONTROLLER_NAME, parseRouteSpec, type AnyRouteSpec, type BackendObjectReference, type ParentRef, type RouteKind } from '../../api/crds/gateway-route.ts';
import type { ClusterView, PolicyObject } from '../discovery/cache.ts';
import type { Wanted } from '../policy/status.ts';
import { attachedRoutes, timestampOf } from './attach.ts';
import { grpcMatches, httpMatches } from './compile.ts';
import { validateRoute } from './validate.ts';

export interface RouteParentStatus { parentRef: ParentRef; controllerName: string; conditions: Condition[] }
export interface RouteStatusValue { parents: RouteParentStatus[] }

export interface ParentEvaluation { parentRef: ParentRef; accepted: Wanted; resolvedRefs: Wanted }

const ok = (type: string, reason: string, message: string): Wanted => ({ type, status: 'True', reason, message });
const no = (type: string, reason: string, message: string): Wanted => ({ type, status: 'False', reason, message });

export function evaluateRoute(kind: RouteKind, obj: PolicyObject, view: ClusterView): ParentEvaluation[] {
  const ns = obj.metadata?.namespace ?? '';
  const parsed = parseRouteSpec(kind, obj.spec);
  if (!parsed.ok) return [];
  const valid = validateRoute(kind, obj);
  const refs = resolvedRefs(parsed.spec, ns, view);
  return parsed.spec.spec.parentRefs.flatMap((ref, i): ParentEvaluation[] => {
    if (!isServiceRef(ref)) return [];
    const svcNs = ref.namespace ?? ns;
    const svc = view.service(svcNs, ref.name);
    const field = `spec.parentRefs[${i}]`;
    let accepted: Wanted;
    if (!svc) accepted = no('Accepted', 'NoMatchingParent', `Service ${svcNs}/${ref.name} does not exist; create it or fix ${field}.name`);
    else if (ref.port !== undefined && !hasPort(svc, ref.port)) accepted = no('Accepted', 'NoMatchingParent', `Service ${svcNs}/${ref.name} has no port ${ref.port} (it has ${portList(svc)}); fix ${field}.port or leave it out`);
    else if (!valid.ok) accepted = no('Accepted', 'UnsupportedValue', `${valid.problems.join('; ')}; until fixed, proxies keep routing by this route's last valid version (none if it never was)`);
    else accepted = ok('Accepted', 'Accepted', acceptedMessage(kind, obj, view, svc, ref, svcNs));
    return [{ parentRef: ref, accepted, resolvedRefs: refs }];
  });
}

const hasPort = (svc: V1Service, port: number) => (svc.spec?.ports ?? []).some((p) => p.port === port);
const portList = (svc: V1Service) => (svc.spec?.ports ?? []).map((p) => String(p.port)).join(', ') || 'none';

function acceptedMessage(kind: RouteKind, obj: PolicyObject, view: ClusterView, svc: V1Service, ref: ParentRef, svcNs: string): string {
  const consumer = (obj.metadata?.namespace ?? '') !== svcNs;
  const base = `${consumer ? `a consumer route: clients in namespace ${obj.metadata?.namespace ?? ''}` : 'a producer route: every client'} of Service ${svcNs}/${ref.name}${ref.port === undefined ? '' : ` port ${ref.port}`} route${consumer ? '' : 's'} by it`;
  const shadowed = shadowedBy(kind, obj, view, svc, ref);
  return shadowed.length === 0 ? base : `${base}; ${shadowed.join('; ')}`;
}

/**
 * Matches of this route that an older route (or one first by namespace/name)
 * also has, identically: that one wins those requests (the Gateway API's
 * tie-break), so the user learns which of two conflicting routes is in effect.
 */
function shadowedBy(kind: RouteKind, obj: PolicyObject, view: ClusterView, svc: V1Service, ref: ParentRef): string[] {
  const ns = obj.metadata?.namespace ?? '';
  const me = { created: timestampOf(obj.metadata?.creationTimestamp), id: `${ns}/${obj.metadata?.name ?? ''}` };
  const ports = ref.port === undefined ? (svc.spec?.ports ?? []).map((p) => p.port) : [ref.port];
  const out = new Set<string>();
  const mine = matchKeys(validateRoute(kind, obj));
  for (const port of ports) {
    for (const other of attachedRoutes(view, svc.metadata?.namespace ?? '', svc.metadata?.name ?? '', port, ns)) {
      const id = `${other.namespace}/${other.name}`;
      if (id === me.id && other.kind === kind) continue;
      const wins = other.created.localeCompare(me.created) || id.localeCompare(me.id);
      if (wins >= 0) continue;
      const theirs = new Set(matchKeys({ ok: true, route: other.route }).map(([k]) => k));
      for (const [key, where] of mine) if (theirs.has(key)) out.add(`${where} ties with the same match of ${other.kind} ${id}, which is older (or first by name) and wins those requests; change the match or remove one of the two`);
    }
  }
  return [...out];
}

function matchKeys(v: ReturnType<typeof validateRoute>): [string, string][] {
  if (!v.ok) return [];
  const out: [string, string][] = [];
  v.route.spec.rules.forEach((rule, i) => {
    const list = v.route.kind === 'HTTPRoute' ? httpMatches(v.route.spec.rules[i]?.matches) : grpcMatches(rule.matches as never);
    list.forEach((m, j) => out.push([JSON.stringify(m.match), `spec.rules[${i}].matches[${j}]`]));
  });
  return out;
}

/** Whether every backendRef and mirror of the route resolves to a Service port Skein may send to. */
function resolvedRefs(route: AnyRouteSpec, ns: string, view: ClusterView): Wanted {
  const problems: { reason: string; message: string }[] = [];
  const check = (b: BackendObjectReference, field: string) => {
    if (!isServiceBackend(b)) { problems.push({ reason: 'InvalidKind', message: `${field} names a ${b.group ? `${b.group}/` : ''}${b.kind ?? 'Service'}; only Services can be backends` }); return; }
    const bns = b.namespace ?? ns;
    if (bns !== ns) { problems.push({ reason: 'RefNotPermitted', message: `${field} names Service ${bns}/${b.name} in another namespace; Skein does not read ReferenceGrants, so backends must be in the route's namespace ${ns}` }); return; }
    const svc = view.service(ns, b.name);
    if (!svc) { problems.push({ reason: 'BackendNotFound', message: `${field}: Service ${ns}/${b.name} does not exist` }); return; }
    if (b.port === undefined || !hasPort(svc, b.port)) problems.push({ reason: 'BackendNotFound', message: `${field}: Service ${ns}/${b.name} has no port ${b.port ?? '(none given)'} (it has ${portList(svc)})` });
  };
  route.spec.rules.forEach((rule, i) => {
    rule.backendRefs?.forEach((b, j) => check(b, `spec.rules[${i}].backendRefs[${j}]`));
    rule.filters?.forEach((f, j) => { if (f.type === 'RequestMirror' && f.requestMirror) check(f.requestMirror.backendRef, `spec.rules[${i}].filters[${j}].requestMirror.backendRef`); });
  });
  const first = problems[0];
  if (!first) return ok('ResolvedRefs', 'ResolvedRefs', 'every backendRef names an existing Service port');
  return no('ResolvedRefs', first.reason, `${problems.map((p) => p.message).join('; ')}; meanwhile the requests that would go to such a backend are answered 500 (a mirror to it is skipped), the other backends serve theirs`);
}

const sameRef = (a: ParentRef, b: ParentRef) => JSON.stringify([a.group ?? '', a.kind ?? '', a.namespace ?? '', a.name, a.sectionName ?? '', a.port ?? 0]) === JSON.stringify([b.group ?? '', b.kind ?? '', b.namespace ?? '', b.name, b.sectionName ?? '', b.port ?? 0]);

/** The status to write: others' entries kept, ours replaced, lastTransitionTime carried over while a condition holds. */
export function desiredRouteStatus(previous: RouteStatusValue | undefined, evaluations: ParentEvaluation[], generation: number | undefined, now: Date): RouteStatusValue {
  const others = (previous?.parents ?? []).filter((p) => p.controllerName !== MESH_CONTROLLER_NAME);
  const ours = evaluations.map((e) => {
    const old = previous?.parents?.find((p) => p.controllerName === MESH_CONTROLLER_NAME && sameRef(p.parentRef, e.parentRef));
    return { parentRef: e.parentRef, controllerName: MESH_CONTROLLER_NAME, conditions: mergeConditions(old?.conditions, [e.accepted, e.resolvedRefs], generation, now) };
  });
  return { parents: [...others, ...ours] };
}

export function sameRouteStatus(a: RouteStatusValue | undefined, b: RouteStatusValue): boolean {
  const canon = (s: RouteStatusValue | undefined) => JSON.stringify((s?.parents ?? []).map((p) => [
    p.controllerName, JSON.stringify(p.parentRef),
    [...p.conditions].sort((x, y) => x.type.localeCompare(y.type)).map((c) => [c.type, c.status, c.reason, c.message, c.observedGeneration, c.lastTransitionTime]),
  ]));
  return canon(a) === canon(b);
}
