// AuthorizationPolicy beyond its CRD schema: a target that names both a
// Service and a pod selector (or neither), a policy that allows no one, and
// networks that are not CIDRs. The words come from
// api/crds/authorizationpolicy.ts, the same the operator reports.
import { parseAuthorizationPolicySpec } from '../../api/crds/authorizationpolicy.ts';

export function validateAuthorizationPolicy(obj: Record<string, unknown>): string[] {
  const parsed = parseAuthorizationPolicySpec(obj.spec);
  return parsed.ok ? [] : parsed.problems;
}
