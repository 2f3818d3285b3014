// The status every Skein CRD carries: metav1.Condition as Kubernetes defines
// it (the same bounds, so `kubectl wait --for=condition=Accepted` and generic
// tooling read it) and the generation the conditions describe. One copy here,
// reused by each CRD's zod schema and printer columns.
import { z } from 'zod';

/** The spec was understood and is in use (False: it is invalid, with the reason). */
export const ACCEPTED = 'Accepted';
/** Everything the object names (Services, ServiceAccounts, namespaces) exists. */
export const RESOLVED_REFS = 'ResolvedRefs';

export const ConditionSchema = z.object({
  type: z.string().min(1).max(316).describe('Type of condition in CamelCase, e.g. Accepted'),
  status: z.enum(['True', 'False', 'Unknown']),
  observedGeneration: z.number().int().min(0).optional().describe('The metadata.generation this condition was computed from'),
  lastTransitionTime: z.string().meta({ format: 'date-time' }).describe('When the status last changed'),
  reason: z.string().min(1).max(1024).regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/).describe('A CamelCase word a program can switch on'),
  message: z.string().max(32768).describe('What happened, in words a user can act on'),
});
export type Condition = z.infer<typeof ConditionSchema>;

/** A condition list keyed by type, as metav1 declares it, so server-side apply merges per type. */
export const conditionList = z.array(ConditionSchema).meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });

/** The status of an object reconciled by the operator: Accepted and ResolvedRefs. */
export const PolicyStatus = z.object({
  observedGeneration: z.number().int().min(0).optional().describe('The metadata.generation the operator last reconciled'),
  conditions: conditionList.optional().describe(`${ACCEPTED} and ${RESOLVED_REFS}, each with observedGeneration`),
});
export type PolicyStatusValue = z.infer<typeof PolicyStatus>;

/** A condition as a reconciler computes it; mergeConditions adds the times and generation. */
export type WantedCondition = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** Carries lastTransitionTime over when the status did not change, as metav1 conditions require. */
export function mergeConditions(previous: readonly Condition[] | undefined, wanted: WantedCondition[], generation: number | undefined, now: Date): Condition[] {
  return wanted.map((w) => {
    const old = previous?.find((c) => c.type === w.type);
    const lastTransitionTime = old && old.status === w.status ? old.lastTransitionTime : now.toISOString();
    return { ...w, ...(generation !== undefined ? { observedGeneration: generation } : {}), lastTransitionTime };
  });
}

/** JSONPath of a condition's status, for a printer column. */
export const conditionColumn = (type: string): string => `.status.conditions[?(@.type=="${type}")].status`;

/** The printer columns every reconciled object shows after its own. */
export const statusColumns = [
  { name: ACCEPTED, type: 'string', jsonPath: conditionColumn(ACCEPTED) },
  { name: 'Resolved', type: 'string', jsonPath: conditionColumn(RESOLVED_REFS) },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];
