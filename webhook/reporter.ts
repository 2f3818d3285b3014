// What the injector tells users: an annotation on the pod (in the patch) and
// an Event on the pod's owner, resolved the way `kubectl describe` users
// expect (ReplicaSet -> Deployment, Job -> CronJob). Lookups are bounded so an
// admission never waits long on the API server.
import { AppsV1Api, BatchV1Api, type KubeConfig, type V1Pod, type V1OwnerReference } from '@kubernetes/client-node';
import type { Logger } from '../shared/log.ts';
import type { EventNote, EventRecorder } from '../shared/control-plane/kube.ts';
import type { InjectResult } from './inject/inject.ts';

export interface OwnerRef { apiVersion: string; kind: string; name: string; uid: string }

/** One ownerReference up: the controller of a ReplicaSet or Job, when it has one. */
export function controllerOf(refs: readonly V1OwnerReference[] | undefined): OwnerRef | undefined {
  const c = refs?.find((r) => r.controller) ?? (refs?.length === 1 ? refs[0] : undefined);
  return c ? { apiVersion: c.apiVersion, kind: c.kind, name: c.name, uid: c.uid } : undefined;
}

export function eventFor(result: InjectResult): { type: 'Normal' | 'Warning'; reason: string; message: string } | undefined {
  const d = result.decision;
  if (d.inject) {
    return result.problems.length > 0
      ? { type: 'Warning', reason: 'InjectedWithDefaults', message: `Skein proxy injected; ${result.warnings.join('; ')}` }
      : { type: 'Normal', reason: 'Injected', message: `Skein proxy injected (enabled on the ${d.enabledAt})` };
  }
  // Pods that never asked for the mesh, or were already meshed, are not news.
  if (d.reason === 'not_enabled' || d.reason === 'already_injected') return undefined;
  return { type: d.reason === 'invalid_inject_annotation' || d.reason === 'pod_security_admission' ? 'Warning' : 'Normal', reason: 'InjectionSkipped', message: `Skein proxy not injected (${d.reason}): ${d.message}` };
}

export class Reporter {
  readonly #events: EventRecorder;
  readonly #apps: AppsV1Api;
  readonly #batch: BatchV1Api;
  readonly #log: Logger;

  constructor(kc: KubeConfig, log: Logger, events: EventRecorder) {
    this.#events = events;
    this.#apps = kc.makeApiClient(AppsV1Api);
    this.#batch = kc.makeApiClient(BatchV1Api);
    this.#log = log;
  }

  report(pod: V1Pod, namespace: string, result: InjectResult): void {
    const e = eventFor(result);
    if (!e) return;
    void this.#record(pod, namespace, e).catch((err: unknown) => this.#log.warn({ err, namespace }, 'could not record the injection event'));
  }

  /** The workload a user knows: the pod's controller, one more step up for ReplicaSets and Jobs. */
  async resolveOwner(pod: V1Pod, namespace: string): Promise<OwnerRef | undefined> {
    const first = controllerOf(pod.metadata?.ownerReferences);
    if (!first) return undefined;
    const timeout = AbortSignal.timeout(2_000);
    const up = async () => {
      if (first.kind === 'ReplicaSet') return controllerOf((await this.#apps.readNamespacedReplicaSet({ name: first.name, namespace })).metadata?.ownerReferences);
      if (first.kind === 'Job') return controllerOf((await this.#batch.readNamespacedJob({ name: first.name, namespace })).metadata?.ownerReferences);
      return undefined;
    };
    const parent = await Promise.race([up().catch(() => undefined), new Promise<undefined>((r) => timeout.addEventListener('abort', () => r(undefined)))]);
    return parent ?? first;
  }

  /** An Event about a pod, on its owner (or the pod itself when it has none). */
  async event(pod: V1Pod, namespace: string, e: EventNote): Promise<void> {
    await this.#record(pod, namespace, e);
  }

  async #record(pod: V1Pod, namespace: string, e: EventNote): Promise<void> {
    const owner = await this.resolveOwner(pod, namespace);
    const involved = owner
      ? { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid, namespace }
      : { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name ?? pod.metadata?.generateName ?? '', namespace };
    await this.#events.record(involved, namespace, e);
  }
}
