// The policy reconcilers: one work queue for the three kinds, keyed
// `<plural>/<namespace>/<name>`. A reconcile reads the cached object,
// evaluates it, and, only when this replica leads and the status would
// change, writes it with the resourceVersion it read (a conflict throws, and
// the queue retries after its backoff) and records Events for what a user
// must fix. Level-triggered: any change only enqueues keys, and becoming
// leader enqueues everything.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import type { PolicyStatusValue } from '../../api/crds/conditions.ts';
import type { Logger } from '../../shared/log.ts';
import type { EventRecorder } from '../../shared/control-plane/kube.ts';
import type { ClusterView, PolicyObject } from '../discovery/cache.ts';
import { WorkQueue } from '../runtime/queue.ts';
import { SERVICE_PROFILE, TRAFFIC_SPLIT, type PolicyKind } from './objects.ts';
import {
  desiredStatus, eventsBetween, evaluateAuthorizationPolicy, evaluateServiceProfile, evaluateTrafficSplit, sameStatus,
  type Evaluation, type PolicyEvent,
} from './status.ts';

/** Where status and Events go: the API server in production, a fake in unit tests. */
export interface StatusWriter {
  /** Throws when the object changed since `resourceVersion` (409), so the queue retries. */
  patchStatus(kind: PolicyKind, obj: PolicyObject, status: PolicyStatusValue | object): Promise<void>;
  event(kind: PolicyKind, obj: PolicyObject, e: PolicyEvent): Promise<void>;
}

export interface PolicySource {
  kind: PolicyKind;
  get(namespace: string, name: string): PolicyObject | undefined;
  list(): PolicyObject[];
}

export interface ReconcilerOptions {
  sources: PolicySource[];
  view: ClusterView;
  clusterDomain: string;
  writer: StatusWriter;
  isLeader: () => boolean;
  log: Logger;
  now?: () => Date;
  queue?: Partial<ConstructorParameters<typeof WorkQueue>[0]>;
}

export function evaluate(kind: PolicyKind, obj: PolicyObject, view: ClusterView, clusterDomain: string): Evaluation {
  if (kind.plural === SERVICE_PROFILE.plural) return evaluateServiceProfile(obj, view, clusterDomain);
  if (kind.plural === TRAFFIC_SPLIT.plural) return evaluateTrafficSplit(obj, view);
  return evaluateAuthorizationPolicy(obj, view);
}

export const policyKey = (kind: PolicyKind, namespace: string, name: string): string => `${kind.plural}/${namespace}/${name}`;

export class PolicyReconciler {
  readonly #o: ReconcilerOptions;
  readonly #queue: WorkQueue;
  /** Status writes done: lets tests see that an unchanged object is not written. */
  writes = 0;

  constructor(o: ReconcilerOptions) {
    this.#o = o;
    this.#queue = new WorkQueue({
      ...o.queue,
      process: (key) => this.reconcile(key),
      onError: (key, err, retryInMs) => o.log.warn({ key, retryInMs, err }, 'status write failed; retrying'),
    });
  }

  enqueue(kind: PolicyKind, obj: PolicyObject): void {
    this.#queue.add(policyKey(kind, obj.metadata?.namespace ?? '', obj.metadata?.name ?? ''));
  }

  /** A Service (or its ports) changed: every policy of its namespace may resolve differently now. */
  enqueueNamespace(namespace: string): void {
    for (const s of this.#o.sources) for (const o of s.list()) if (o.metadata?.namespace === namespace) this.enqueue(s.kind, o);
  }

  enqueueAll(): void {
    for (const s of this.#o.sources) for (const o of s.list()) this.enqueue(s.kind, o);
  }

  stop(): void {
    this.#queue.stop();
  }

  async reconcile(key: string): Promise<void> {
    const [plural = '', namespace = '', name = ''] = key.split('/');
    const source = this.#o.sources.find((s) => s.kind.plural === plural);
    const obj = source?.get(namespace, name);
    if (!source || !obj || !this.#o.isLeader()) return;
    const generation = obj.metadata?.generation;
    const next = desiredStatus(obj.status, evaluate(source.kind, obj, this.#o.view, this.#o.clusterDomain), generation, (this.#o.now ?? (() => new Date()))());
    if (sameStatus(obj.status, next)) return;
    // Asked again right before the write: a replica that lost its Lease while evaluating writes nothing.
    if (!this.#o.isLeader()) return;
    await this.#o.writer.patchStatus(source.kind, obj, next);
    this.writes++;
    for (const e of eventsBetween(obj.status, next)) await this.#o.writer.event(source.kind, obj, e);
  }
}

/** Status and Events through the API server. */
export function kubeStatusWriter(kc: KubeConfig, events: EventRecorder, component = 'skein-controller'): StatusWriter {
  const custom = kc.makeApiClient(CustomObjectsApi);
  return {
    async patchStatus(kind, obj, status) {
      await custom.patchNamespacedCustomObjectStatus({
        group: kind.group, version: kind.version, plural: kind.plural, namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '',
        // The resourceVersion makes the write conditional: a newer object means a fresh reconcile, not an overwrite.
        body: { metadata: { resourceVersion: obj.metadata?.resourceVersion }, status },
        fieldManager: component,
      }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    },
    async event(kind, obj, e) {
      await events.record({ apiVersion: `${kind.group}/${kind.version}`, kind: kind.kind, name: obj.metadata?.name ?? '', namespace: obj.metadata?.namespace ?? '', ...(obj.metadata?.uid ? { uid: obj.metadata.uid } : {}) },
        obj.metadata?.namespace ?? '', e);
    },
  };
}
