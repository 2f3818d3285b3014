// /validate: what an OpenAPI schema cannot say about Skein's objects. Each
// rule returns messages a user can act on; any message denies the request.
// ServiceProfile and AuthorizationPolicy rules join this table with their CRDs.
import type { AdmissionRequest, AdmissionResponse } from './admission.ts';
import { allowWithPatch, deny } from './admission.ts';

type Obj = Record<string, unknown>;

export function validateTrafficSplit(obj: Obj): string[] {
  const spec = (obj.spec ?? {}) as { service?: string; backends?: { service?: string; weight?: unknown }[]; matches?: { kind?: string }[] };
  const problems: string[] = [];
  const backends = spec.backends ?? [];
  const weights = backends.map((b) => (typeof b.weight === 'number' ? b.weight : Number.NaN));
  if (backends.length > 0 && weights.every((w) => w === 0)) {
    problems.push(`spec.backends: the weights sum to zero, so no backend of ${spec.service ?? 'the root service'} would get traffic; give at least one backend a positive weight`);
  }
  const seen = new Set<string>();
  backends.forEach((b, i) => {
    if (b.service && seen.has(b.service)) problems.push(`spec.backends[${i}].service: "${b.service}" is listed twice; give each backend Service once, with its total weight`);
    if (b.service) seen.add(b.service);
  });
  (spec.matches ?? []).forEach((m, i) => {
    if (m.kind !== 'HTTPRouteGroup' && m.kind !== 'TCPRoute') problems.push(`spec.matches[${i}].kind: "${m.kind ?? ''}" is not a route group kind; use HTTPRouteGroup or TCPRoute`);
  });
  return problems;
}

const RULES: Record<string, (o: Obj) => string[]> = {
  'split.smi-spec.io/TrafficSplit': validateTrafficSplit,
};

export function handleValidate(req: AdmissionRequest): Promise<AdmissionResponse> {
  const rule = RULES[`${req.kind.group}/${req.kind.kind}`];
  if (!rule || !req.object || req.operation === 'DELETE') return Promise.resolve(allowWithPatch(req.uid, []));
  const problems = rule(req.object);
  return Promise.resolve(problems.length === 0 ? allowWithPatch(req.uid, []) : deny(req.uid, `${req.kind.kind} ${req.name ?? ''} is invalid: ${problems.join('; ')}`));
}
