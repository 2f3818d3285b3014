// /validate: what an OpenAPI schema cannot say about Skein's objects. Each
// kind's rules live in validate/<kind>.ts and return messages a user can act
// on, each naming its field; any message denies the request.
import type { AdmissionRequest, AdmissionResponse } from './admission.ts';
import { allowWithPatch, deny } from './admission.ts';
import { validateTrafficSplit } from './validate/trafficsplit.ts';
import { validateServiceProfile } from './validate/serviceprofile.ts';
import { validateAuthorizationPolicy } from './validate/authorizationpolicy.ts';
import { validateMeshIdentity } from './validate/meshidentity.ts';
import { validateHTTPRouteGroup } from './validate/httproutegroup.ts';

type Obj = Record<string, unknown>;

/** Keyed by group/Kind; manifests/base/webhook.yaml registers the same kinds for CREATE and UPDATE. */
export const RULES: Record<string, (o: Obj) => string[]> = {
  'split.smi-spec.io/TrafficSplit': validateTrafficSplit,
  'skein.dev/ServiceProfile': validateServiceProfile,
  'skein.dev/AuthorizationPolicy': validateAuthorizationPolicy,
  'skein.dev/MeshIdentity': validateMeshIdentity,
  'specs.smi-spec.io/HTTPRouteGroup': validateHTTPRouteGroup,
};

/** A hostile object can carry thousands of problems; the first few tell the user what to fix. */
const MAX_PROBLEMS_SHOWN = 10;

export function denialMessage(kind: string, name: string, problems: readonly string[]): string {
  const shown = problems.slice(0, MAX_PROBLEMS_SHOWN).join('; ');
  const more = problems.length > MAX_PROBLEMS_SHOWN ? `; and ${problems.length - MAX_PROBLEMS_SHOWN} more` : '';
  return `${kind}${name ? ` ${name}` : ''} is invalid: ${shown}${more}`;
}

export function handleValidate(req: AdmissionRequest): Promise<AdmissionResponse> {
  const rule = RULES[`${req.kind.group}/${req.kind.kind}`];
  if (!rule || !req.object || req.operation === 'DELETE') return Promise.resolve(allowWithPatch(req.uid, []));
  const problems = rule(req.object);
  const metadataName = (req.object.metadata as { name?: unknown } | undefined)?.name;
  const name = req.name || (typeof metadataName === 'string' ? metadataName : '');
  return Promise.resolve(problems.length === 0 ? allowWithPatch(req.uid, []) : deny(req.uid, denialMessage(req.kind.kind, name, problems)));
}
