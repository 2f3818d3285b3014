// Every CRD Skein owns, in the order crds/generate.ts writes them.
import type { CrdDefinition } from './definition.ts';
import { trafficSplitCrd } from './trafficsplit.ts';
import { meshIdentityCrd } from './meshidentity.ts';
import { serviceProfileCrd } from './serviceprofile.ts';
import { authorizationPolicyCrd } from './authorizationpolicy.ts';
import { httpRouteGroupCrd } from './httproutegroup.ts';

export const ALL_CRDS: readonly CrdDefinition[] = [trafficSplitCrd, meshIdentityCrd, serviceProfileCrd, authorizationPolicyCrd, httpRouteGroupCrd];
