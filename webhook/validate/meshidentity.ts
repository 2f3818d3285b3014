// MeshIdentity ranges (leafLifetime, clockSkew, expiringSoonMargin) the CRD
// schema cannot express: refused at admission with the very message the
// identity service would put in its SpecValid condition.
import { parseMeshIdentitySpec } from '../../api/crds/meshidentity.ts';

export function validateMeshIdentity(obj: Record<string, unknown>): string[] {
  const parsed = parseMeshIdentitySpec(obj.spec);
  return parsed.ok ? [] : parsed.problems;
}
