// ServiceProfile beyond what its CRD schema can say: the whole condition
// tree (the CRD keeps nested levels as written), path regexes that do not
// compile or could backtrack exponentially, duplicate route names, timeouts
// that do not parse, inverted status ranges, and a name that is not a
// Service FQDN. The words come from api/crds/serviceprofile.ts, the same
// the operator reports.
import { parseServiceProfileSpec, serviceProfileNameProblem } from '../../api/crds/serviceprofile.ts';

export function validateServiceProfile(obj: Record<string, unknown>): string[] {
  const name = (obj.metadata as { name?: unknown } | undefined)?.name;
  const nameProblem = typeof name === 'string' && name !== '' ? serviceProfileNameProblem(name) : undefined;
  const parsed = parseServiceProfileSpec(obj.spec);
  return [...(nameProblem ? [nameProblem] : []), ...(parsed.ok ? [] : parsed.problems)];
}
