// The route status reconciler: one work queue for HTTPRoutes and GRPCRoutes,
// keyed `<plural>/<namespace>/<name>`, as operator/policy/reconciler.ts does
// for Skein's own kinds (same StatusWriter: a merge patch conditional on the
// resourceVersion read, only by the leader, only when the status changes),
// with the Gateway API's `status.parents` shape. Events: a Warning when a
// parent's condition turns False or its message changes, Normal when fixed.
import type { Logger } from '../../shared/log.ts';
import { MESH_CONTROLLER_NAME, type RouteKind } from '../../api/crds/gateway-route.ts';
import type { ClusterView, PolicyObject } from '../discovery/cache.ts';
import { WorkQueue } from '../runtime/queue.ts';
import type { PolicyKind } from '../policy/objects.ts';
import { policyKey, type PolicySource, type StatusWriter } from '../policy/reconciler.ts';
import { eventsBetween } from '../policy/status.ts';
import { desiredRouteStatus, evaluateRoute, sameRouteStatus, type RouteStatusValue } from './status.ts';

export interface RouteReconcilerOptions {
  sources: PolicySource[];
  view: ClusterView;
  writer: StatusWriter;
  isLeader: () => boolean;
  log: Logger;
  now?: () => Date;
  queue?: Partial<ConstructorParameters<typeof WorkQueue>[0]>;
}

export class RouteStatusReconciler {
  readonly #o: RouteReconcilerOptions;
  readonly #queue: WorkQueue;
  writes = 0;

  constructor(o: RouteReconcilerOptions) {
    this.#o = o;
    this.#queue = new WorkQueue({
      ...o.queue,
      process: (key) => this.reconcile(key),
      onError: (key, err, retryInMs) => o.log.warn({ key, retryInMs, err }, 'route status write failed; retrying'),
    });
  }

  enqueue(kind: PolicyKind, obj: PolicyObject): void {
    this.#queue.add(policyKey(kind, obj.metadata?.namespace ?? '', obj.metadata?.name ?? ''));
  }

  /** Services, or other routes, changed: any route may resolve (or tie) differently now. Routes are few; all are looked at again. */
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
    const previous = obj.status as unknown as RouteStatusValue | undefined;
    const evaluations = evaluateRoute(source.kind.kind as RouteKind, obj, this.#o.view);
    const next = desiredRouteStatus(previous, evaluations, obj.metadata?.generation, (this.#o.now ?? (() => new Date()))());
    if (sameRouteStatus(previous, next)) return;
    if (!this.#o.isLeader()) return;
    await this.#o.writer.patchStatus(source.kind, obj, next);
    this.writes++;
    for (const p of next.parents.filter((x) => x.controllerName === MESH_CONTROLLER_NAME)) {
      const old = previous?.parents?.find((q) => q.controllerName === p.controllerName && JSON.stringify(q.parentRef) === JSON.stringify(p.parentRef));
      for (const e of eventsBetween({ conditions: old?.conditions ?? [] }, { conditions: p.conditions })) await this.#o.writer.event(source.kind, obj, e);
    }
  }
}
