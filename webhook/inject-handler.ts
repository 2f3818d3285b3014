// /inject: an AdmissionRequest for a Pod in, the injector's answer out.
// Lookups are injected so the handler is tested without a cluster; the
// response never waits for the Event about the decision.
import type { V1Pod, V1Namespace } from '@kubernetes/client-node';
import type { AdmissionRequest, AdmissionResponse } from './admission.ts';
import { allowWithPatch } from './admission.ts';
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

export async function handleInject(req: AdmissionRequest, deps: InjectDeps): Promise<AdmissionResponse> {
  if (req.kind.kind !== 'Pod' || req.operation !== 'CREATE' || !req.object) {
    // Registered for Pod CREATE only; anything else passes untouched.
    return allowWithPatch(req.uid, []);
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
