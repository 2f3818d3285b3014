// SMI TrafficSplit (split.smi-spec.io), served in the four versions that
// Flagger, Argo Rollouts and the SMI spec use. One zod schema per version
// gives the CRD's OpenAPI schema and the TypeScript types.
import { z } from 'zod';
import type { CrdDefinition } from './definition.ts';
import { PolicyStatus, statusColumns } from './conditions.ts';

const serviceName = z.string().min(1).max(253).describe('Name of a Service in the same namespace');

const quantityWeight = z.union([z.string(), z.number().int()]).meta({
  'x-kubernetes-int-or-string': true,
  description: 'Relative weight, a quantity such as 500m or 1 (v1alpha1)',
});
const integerWeight = z.number().int().min(0).describe('Relative weight: this backend gets weight/sum of the traffic');

const match = z.object({
  kind: z.string().min(1).describe('Kind of the route group, e.g. HTTPRouteGroup'),
  name: z.string().min(1).describe('Name of the route group'),
  apiGroup: z.string().optional().describe('API group of the route group, e.g. specs.smi-spec.io'),
});

const spec = (weight: z.ZodType, withMatches: boolean) => z.object({
  service: serviceName.describe('The root Service clients call; its traffic is split over the backends'),
  backends: z.array(z.object({ service: serviceName, weight })).min(1).describe('The Services that receive the traffic, each with a weight'),
  ...(withMatches ? { matches: z.array(match).optional().describe('Only requests matching one of these route groups are split') } : {}),
});

export const TrafficSplitSpec = {
  v1alpha1: spec(quantityWeight, false),
  v1alpha2: spec(integerWeight, false),
  v1alpha3: spec(integerWeight, true),
  v1alpha4: spec(integerWeight, true),
};
export type TrafficSplitV1alpha4 = z.infer<typeof TrafficSplitSpec.v1alpha4>;

export const trafficSplitCrd: CrdDefinition = {
  group: 'split.smi-spec.io',
  names: { plural: 'trafficsplits', singular: 'trafficsplit', kind: 'TrafficSplit', listKind: 'TrafficSplitList', shortNames: ['ts'], categories: ['smi', 'skein'] },
  scope: 'Namespaced',
  storageVersion: 'v1alpha4',
  versions: TrafficSplitSpec,
  printerColumns: [
    { name: 'Service', type: 'string', jsonPath: '.spec.service', description: 'The root Service' },
    ...statusColumns,
  ],
  // The same status in every version; the conversion webhook carries it over unchanged.
  status: true,
  statusSchema: PolicyStatus,
  conversion: { service: 'skein-webhook', namespace: 'skein-system', path: '/convert' },
};
