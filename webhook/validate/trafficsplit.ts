// TrafficSplit beyond its schema: weights that sum to zero, a backend listed
// twice, a match that is no route group. The API server converts to the
// storage version (v1alpha4) before asking, so weights are integers here.
export function validateTrafficSplit(obj: Record<string, unknown>): string[] {
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
