// /inject: an AdmissionRequest for a Pod in, the injector's answer out.
// Lookups are injected so the handler is tested without a cluster; the
// response never waits for the Event about the decision.
import { z } from 'zod';
import type { V1Pod, V1Namespace } from '@kubernetes/client-node';
import type { AdmissionRequest, AdmissionResponse } from './admission.ts';
import { allowWithPatch, BadReview } from './admission.ts';
import { injectPod, type InjectOptions, type InjectResult } from './inject/inject.ts';
import { OVERRIDE_ANNOTATIONS } from './inject/config.ts';
import type { WebhookMetrics } from './metrics.ts';

export interface InjectDeps {
  /** The pod's namespace, from a cache; undefined when it cannot be had in time. */
  namespace: (name: string) => Promise<Pick<V1Namespace, 'metadata'> | undefined>;
  /** Tells the user (an Event on the pod's owner); fire-and-forget. */
  report: (pod: V1Pod, namespace: string, result: InjectResult) => void;
  metrics: WebhookMetrics;
  options: InjectOptions;
}

// The parts of a Pod the injector reads, with the types the API server always
// sends. It decodes pods before admission, so only a client talking to the
// Service directly sends anything else; it gets a 400, not a 500.
const strings = z.record(z.string(), z.string());
const container = z.looseObject({ name: z.string(), ports: z.array(z.looseObject({ containerPort: z.number() })).optional() });
const PodShape = z.looseObject({
  metadata: z.looseObject({ annotations: strings.optional(), labels: strings.optional() }).optional(),
  spec: z.looseObject({
    containers: z.array(container),
    initContainers: z.array(container).optional(),
    volumes: z.array(z.looseObject({ name: z.string() })).optional(),
  }),
});

export async function handleInject(req: AdmissionRequest, deps: InjectDeps): Promise<AdmissionResponse> {
  if (req.kind.kind !== 'Pod' || req.operation !== 'CREATE' || !req.object) {
    // Registered for Pod CREATE only; anything else passes untouched.
    return allowWithPatch(req.uid, []);
  }
  const shape = PodShape.safeParse(req.object);
  if (!shape.success) {
    const where = (p: PropertyKey[]) => p.map(String).join('.') || 'object';
    throw new BadReview(`not a Pod the API server would send: ${shape.error.issues.slice(0, 5).map((i) => `${where(i.path)}: ${i.message}`).join('; ')}`);
  }
  const pod = req.object as V1Pod;
  const namespace = req.namespace ?? pod.metadata?.namespace ?? 'default';
  const ns = await deps.namespace(namespace);
  const result = injectPod(pod, ns, namespace, deps.options);
  const decision = result.decision;
  deps.metrics.decisions.inc({ decision: decision.inject ? 'injected' : 'skipped', reason: decision.inject ? decision.enabledAt : decision.reason });
  for (const p of result.problems) deps.metrics.configProblems.inc({ annotation: OVERRIDE_ANNOTATIONS.includes(p.annotation) ? p.annotation : 'unknown' });
  // A dry run has no side effects, Events included.
  if (!req.dryRun) deps.report(pod, namespace, result);
  const warnings = ns === undefined && !decision.inject && decision.reason === 'not_enabled'
    ? [...result.warnings, `namespace ${namespace} could not be read in time; only the pod's own annotations were considered`]
    : result.warnings;
  return allowWithPatch(req.uid, result.patch, warnings);
}
