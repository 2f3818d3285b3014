// The control plane's view of the API server: the kubeconfig (in a pod, its
// ServiceAccount; with KUBECONFIG set, that file, as in the local cluster and
// on a laptop) and the Events it records for users.
import { CoreV1Api, KubeConfig, type V1ObjectReference } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';

export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  if (env.KUBECONFIG) kc.loadFromDefault(); else kc.loadFromCluster();
  return kc;
}

export interface EventNote { type: 'Normal' | 'Warning'; reason: string; message: string }

/** The Event body Kubernetes expects; `kubectl describe` shows it under the object. */
export function eventBody(involved: V1ObjectReference, namespace: string, e: EventNote, component: string, instance: string, now: Date) {
  return {
    metadata: { generateName: `${(involved.name ?? '').slice(0, 200)}.skein-`, namespace },
    involvedObject: involved,
    type: e.type, reason: e.reason, message: e.message.slice(0, 1024),
    source: { component: `skein-${component}` }, reportingComponent: `skein.dev/${component}`, reportingInstance: instance,
    firstTimestamp: now, lastTimestamp: now, count: 1,
  };
}

/** Records Events for one component; a failed write is logged, never thrown: an Event is news, not state. */
export class EventRecorder {
  readonly #core: CoreV1Api;
  readonly #component: string;
  readonly #instance: string;
  readonly #log: Logger;

  /** `component` as in `skein-<component>`: controller, webhook, identity. */
  constructor(kc: KubeConfig, component: string, log: Logger, instance = process.env.HOSTNAME ?? `skein-${component}`) {
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#component = component;
    this.#instance = instance;
    this.#log = log;
  }

  async record(involved: V1ObjectReference, namespace: string, e: EventNote): Promise<boolean> {
    try {
      await this.#core.createNamespacedEvent({ namespace, body: eventBody(involved, namespace, e, this.#component, this.#instance, new Date()) });
      return true;
    } catch (err) {
      this.#log.warn({ err, reason: e.reason, object: `${involved.kind ?? ''} ${namespace}/${involved.name ?? ''}` }, 'could not record an Event');
      return false;
    }
  }
}
