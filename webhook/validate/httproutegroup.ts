// HTTPRouteGroup beyond its CRD schema: path and header regexes that do not
// compile or could backtrack exponentially in the proxy, and match names
// used twice. The words come from api/crds/httproutegroup.ts, the same
// the operator reports on a TrafficSplit that refers to the group.
import { parseHTTPRouteGroupSpec } from '../../api/crds/httproutegroup.ts';

export function validateHTTPRouteGroup(obj: Record<string, unknown>): string[] {
  const parsed = parseHTTPRouteGroupSpec(obj.spec);
  return parsed.ok ? [] : parsed.problems;
}
