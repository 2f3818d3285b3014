// What each policy object's status should say, from the object and the
// cached cluster alone (pure, so every message is a unit test): Accepted
// (the spec parses: the webhook's own words) and ResolvedRefs (the Services
// and ports it names exist). lastTransitionTime moves only when a condition's
// status does; a status equal to the one written is never written again.
import type { V1Service } from '@kubernetes/client-node';
import { ACCEPTED, RESOLVED_REFS, type Condition, type PolicyStatusValue } from '../../crds/schema/conditions.ts';
import { serviceProfileNameProblem } from '../../crds/schema/serviceprofile.ts';
import { parseServiceProfileSpec } from '../../crds/schema/serviceprofile.ts';
import { mergeConditions } from '../identity/status.ts';
import type { ClusterView } from '../discovery/cache.ts';
import { parseAuthorizationPolicy } from './inbound.ts';
import { parseAuthority, profileName } from './profile.ts';
import { backendPort, matchRefsOf, parseTrafficSplit, resolveSplitMatches } from './split.ts';
import type { PolicyObject } from './objects.ts';

export type Wanted = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;
export interface Evaluation { accepted: Wanted; resolvedRefs: Wanted }
export interface PolicyEvent { type: 'Normal' | 'Warning'; reason: string; message: string }

const accepted = (problems: string[]): Wanted => (problems.length === 0
  ? { type: ACCEPTED, status: 'True', reason: 'Accepted', message: 'the spec is valid and in use' }
  : { type: ACCEPTED, status: 'False', reason: 'InvalidSpec', message: `${problems.join('; ')}; fix the spec, the proxies ignore this object until then` });
const resolved = (message: string): Wanted => ({ type: RESOLVED_REFS, status: 'True', reason: 'ResolvedRefs', message });
const unresolved = (reason: string, message: string): Wanted => ({ type: RESOLVED_REFS, status: 'False', reason, message });

const nameOf = (o: PolicyObject) => o.metadata?.name ?? '';
const nsOf = (o: PolicyObject) => o.metadata?.namespace ?? '';

export function evaluateServiceProfile(sp: PolicyObject, view: ClusterView, clusterDomain: string): Evaluation {
  const name = nameOf(sp);
  const ns = nsOf(sp);
  const parsed = parseServiceProfileSpec(sp.spec);
  const problems = parsed.ok ? [] : [...parsed.problems];
  const nameProblem = serviceProfileNameProblem(name);
  const [svc = '', svcNs = ''] = name.split('.');
  if (nameProblem) problems.unshift(nameProblem);
  else if (name !== profileName(svc, ns, clusterDomain)) {
    problems.unshift(`metadata.name: proxies look for ${profileName(svc, ns, clusterDomain)} in namespace ${ns}; name the profile after a Service of its own namespace (it names namespace ${svcNs}) and this cluster's domain ${clusterDomain}`);
  }
  if (nameProblem) return { accepted: accepted(problems), resolvedRefs: unresolved('InvalidName', 'the name does not name a Service') };
  if (!view.service(ns, svc)) return { accepted: accepted(problems), resolvedRefs: unresolved('ServiceNotFound', `Service ${ns}/${svc} does not exist; create it, or name the profile after an existing Service`) };
  const missing = (parsed.ok ? parsed.spec.dstOverrides ?? [] : []).map((o, i) => overrideProblem(view, o.authority, i, clusterDomain)).filter((p) => p !== undefined);
  if (missing.length > 0) return { accepted: accepted(problems), resolvedRefs: unresolved('BackendNotFound', `${missing.join('; ')}; ${meanwhile(missing.length, 'overrides', 'Service')}`) };
  return { accepted: accepted(problems), resolvedRefs: resolved(`Service ${ns}/${svc} exists`) };
}

/** Why a dstOverrides authority reaches no Service, if it does not. */
function overrideProblem(view: ClusterView, authority: string, i: number, clusterDomain: string): string | undefined {
  const a = parseAuthority(authority, clusterDomain);
  if (!a) return `spec.dstOverrides[${i}].authority ${JSON.stringify(authority.slice(0, 80))} is not <service>.<namespace>.svc.${clusterDomain}[:port]`;
  return view.service(a.namespace, a.name) ? undefined : `spec.dstOverrides[${i}].authority: Service ${a.namespace}/${a.name} does not exist`;
}

/**
 * What the proxies do with a missing backend's weight: it has no endpoints, so
 * the split draws only among those that have some (split.ts drawBackend), and
 * the Service's own endpoints serve when none has. Nothing fails meanwhile.
 */
function meanwhile(count: number, others: string, own: string): string {
  const [share, pronoun] = count > 1 ? ['their', 'they are'] : ['its', 'it is'];
  return `the proxies send ${share} share of the traffic to the ${others} that have endpoints (the ${own}'s own when none has) until ${pronoun} created`;
}

const portNames = (svc: V1Service) => (svc.spec?.ports ?? []).map((p) => (p.name ? `${p.port} (${p.name})` : String(p.port))).join(', ');

export function evaluateTrafficSplit(ts: PolicyObject, view: ClusterView): Evaluation {
  const ns = nsOf(ts);
  const parsed = parseTrafficSplit(ts);
  if (!parsed.ok) return { accepted: accepted(parsed.problems), resolvedRefs: unresolved('NotAccepted', 'the spec is invalid') };
  const root = view.service(ns, parsed.spec.service);
  if (!root) return { accepted: accepted([]), resolvedRefs: unresolved('ServiceNotFound', `root Service ${ns}/${parsed.spec.service} does not exist; create it (clients call it) or fix spec.service`) };
  const matches = resolveSplitMatches(view, ns, matchRefsOf(parsed.spec));
  if (!matches.ok) return { accepted: accepted([]), resolvedRefs: unresolved(matches.reason, matches.message) };
  const missing: string[] = [];
  const noPort: string[] = [];
  for (const b of parsed.spec.backends) {
    const svc = view.service(ns, b.service);
    if (!svc) { missing.push(b.service); continue; }
    const lacking = (root.spec?.ports ?? []).filter((p) => backendPort(svc, p, p.port) === undefined);
    if (lacking.length > 0) noPort.push(`${b.service} has no port ${lacking.map((p) => p.name ? `${p.port} or named ${p.name}` : String(p.port)).join(', ')} (it has ${portNames(svc) || 'none'})`);
  }
  if (missing.length > 0) {
    const many = missing.length > 1;
    return { accepted: accepted([]), resolvedRefs: unresolved('BackendNotFound', `backend Service${many ? 's' : ''} ${missing.map((m) => `${ns}/${m}`).join(', ')} do${many ? '' : 'es'} not exist; ${meanwhile(missing.length, 'backends', 'root Service')}`) };
  }
  if (noPort.length > 0) return { accepted: accepted([]), resolvedRefs: unresolved('PortNotFound', `${noPort.join('; ')}; a backend must expose the root Service's ports (same number or same name)`) };
  return { accepted: accepted([]), resolvedRefs: resolved(`root Service ${parsed.spec.service} and ${parsed.spec.backends.length} backend Service(s) exist`) };
}

export function evaluateAuthorizationPolicy(ap: PolicyObject, view: ClusterView): Evaluation {
  const ns = nsOf(ap);
  const parsed = parseAuthorizationPolicy(ap);
  if (!parsed.ok) return { accepted: accepted(parsed.problems), resolvedRefs: unresolved('NotAccepted', 'the spec is invalid') };
  const t = parsed.spec.target;
  if (t.service === undefined) return { accepted: accepted([]), resolvedRefs: resolved('the policy selects pods by label; its port is resolved on each pod') };
  const svc = view.service(ns, t.service);
  if (!svc) return { accepted: accepted([]), resolvedRefs: unresolved('ServiceNotFound', `Service ${ns}/${t.service} does not exist; create it or fix spec.target.service`) };
  const port = (svc.spec?.ports ?? []).find((p) => (typeof t.port === 'number' ? p.port === t.port : p.name === t.port));
  if (!port) return { accepted: accepted([]), resolvedRefs: unresolved('PortNotFound', `Service ${ns}/${t.service} has no port ${t.port} (it has ${portNames(svc) || 'none'}); fix spec.target.port`) };
  return { accepted: accepted([]), resolvedRefs: resolved(`Service ${ns}/${t.service} port ${t.port} exists`) };
}

export function desiredStatus(previous: PolicyStatusValue | undefined, e: Evaluation, generation: number | undefined, now: Date): PolicyStatusValue {
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions: mergeConditions(previous?.conditions, [e.accepted, e.resolvedRefs], generation, now),
  };
}

/** The same status, whatever order the API server returned its fields in. */
export function sameStatus(a: PolicyStatusValue | undefined, b: PolicyStatusValue): boolean {
  const canon = (s: PolicyStatusValue | undefined) => JSON.stringify({
    g: s?.observedGeneration,
    c: [...(s?.conditions ?? [])].sort((x, y) => x.type.localeCompare(y.type))
      .map((c) => [c.type, c.status, c.reason, c.message, c.observedGeneration, c.lastTransitionTime]),
  });
  return canon(a) === canon(b);
}

/** Warnings for what a user must fix, when it first appears or changes; a Normal event when it is fixed. */
export function eventsBetween(before: PolicyStatusValue | undefined, after: PolicyStatusValue): PolicyEvent[] {
  const events: PolicyEvent[] = [];
  for (const c of after.conditions ?? []) {
    const old = before?.conditions?.find((p) => p.type === c.type);
    if (c.status === 'False' && c.reason !== 'NotAccepted' && (old?.status !== 'False' || old.message !== c.message)) events.push({ type: 'Warning', reason: c.reason, message: c.message });
    else if (c.status === 'True' && old?.status === 'False') events.push({ type: 'Normal', reason: c.reason, message: c.message });
  }
  return events;
}
