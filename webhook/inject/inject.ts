// The injector as one pure function: a pod and its namespace in, a decision,
// a minimal JSON Patch and the messages a user should see out.
import type { V1Pod, V1Namespace } from '@kubernetes/client-node';
import { decide, type Decision } from './decide.ts';
import { resolveConfig, describeProblem, DEFAULTS, type ProxyConfig, type ConfigProblem } from './config.ts';
import { initContainer, proxyContainer, volumes, DEFAULT_MESH, type MeshSettings } from './sidecar.ts';
import { addToList, addToMap, type AddOp } from './patch.ts';
import {
  STATUS_ANNOTATION, REASON_ANNOTATION, CREATED_BY_ANNOTATION, MESHED_LABEL, WORKLOAD_NS_LABEL, CONTROL_PLANE_NAMESPACE,
} from '../../shared/mesh-names.ts';

export interface InjectOptions {
  mesh?: MeshSettings;
  defaults?: ProxyConfig;
  version?: string;
}

export interface InjectResult {
  decision: Decision;
  patch: AddOp[];
  /** Bad override values: shown by kubectl as admission warnings and recorded as an Event. */
  problems: ConfigProblem[];
  warnings: string[];
}

export function injectPod(pod: V1Pod, namespace: Pick<V1Namespace, 'metadata'> | undefined, podNamespace: string, opts: InjectOptions = {}): InjectResult {
  const decision = decide(pod, namespace, podNamespace);
  const patch: AddOp[] = [];
  const annotations = pod.metadata?.annotations;
  if (!decision.inject) {
    // A second pass over an injected pod changes nothing at all.
    if (decision.reason !== 'already_injected') {
      addToMap(patch, '/metadata/annotations', annotations, { [STATUS_ANNOTATION]: 'skipped', [REASON_ANNOTATION]: decision.reason });
    }
    // A typo in skein.dev/inject turns the mesh off: kubectl shows it at once, as it does a bad override.
    const warnings = decision.reason === 'invalid_inject_annotation' ? [decision.message] : [];
    return { decision, patch, problems: [], warnings };
  }
  const { config, problems } = resolveConfig(namespace?.metadata?.annotations, annotations, opts.defaults ?? DEFAULTS);
  const mesh = opts.mesh ?? DEFAULT_MESH;
  addToMap(patch, '/metadata/annotations', annotations, {
    [STATUS_ANNOTATION]: 'injected',
    [REASON_ANNOTATION]: decision.reason,
    [CREATED_BY_ANNOTATION]: `skein/webhook ${opts.version ?? 'dev'}`,
  });
  addToMap(patch, '/metadata/labels', pod.metadata?.labels, { [MESHED_LABEL]: CONTROL_PLANE_NAMESPACE, [WORKLOAD_NS_LABEL]: podNamespace });
  addToList(patch, '/spec/volumes', pod.spec?.volumes, volumes(mesh));
  const init = initContainer(config);
  const proxy = proxyContainer(pod, config, mesh);
  if (config.nativeSidecar) {
    // iptables first, then the proxy, both before the user's own init containers.
    addToList(patch, '/spec/initContainers', pod.spec?.initContainers, [init, proxy], 0);
  } else {
    addToList(patch, '/spec/initContainers', pod.spec?.initContainers, [init], 0);
    // First container: with proxy-await, the kubelet holds the app until the proxy is ready.
    addToList(patch, '/spec/containers', pod.spec?.containers, [proxy], 0);
  }
  return { decision, patch, problems, warnings: problems.map(describeProblem) };
}
