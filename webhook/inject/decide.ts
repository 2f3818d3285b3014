// Whether a pod gets the proxy, and if not, why, as a stable reason code.
import type { V1Pod, V1Namespace } from '@kubernetes/client-node';
import { CONTROL_PLANE_NAMESPACE, CONTROL_PLANE_LABEL, INJECT_ANNOTATION, INIT_CONTAINER, PROXY_CONTAINER } from '../../api/mesh-names.ts';

export type SkipReason =
  | 'already_injected'
  | 'kube_system'
  | 'control_plane_namespace'
  | 'control_plane_component'
  | 'host_network'
  | 'disabled_by_annotation'
  | 'not_enabled'
  | 'invalid_inject_annotation'
  | 'pod_security_admission';

/** Why a pod was meshed: which annotation asked for it. */
export type InjectReason = 'enabled_by_pod_annotation' | 'enabled_by_namespace_annotation';

export type Decision =
  | { inject: true; enabledAt: 'pod' | 'namespace'; reason: InjectReason }
  | { inject: false; reason: SkipReason; message: string };

const VALID = ['enabled', 'disabled'];

/** Pod Security Admission's enforced level on a namespace; baseline and restricted refuse NET_ADMIN and NET_RAW. */
export const PSA_ENFORCE_LABEL = 'pod-security.kubernetes.io/enforce';
const REFUSES_INIT = ['baseline', 'restricted'];

/** The enforced level that would refuse skein-init, if the namespace has one. */
export function refusingPodSecurityLevel(namespace: Pick<V1Namespace, 'metadata'> | undefined): string | undefined {
  const level = namespace?.metadata?.labels?.[PSA_ENFORCE_LABEL];
  return level !== undefined && REFUSES_INIT.includes(level) ? level : undefined;
}

export function alreadyInjected(pod: V1Pod): boolean {
  const names = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name);
  return names.includes(PROXY_CONTAINER) || names.includes(INIT_CONTAINER);
}

export function decide(pod: V1Pod, namespace: Pick<V1Namespace, 'metadata'> | undefined, podNamespace: string): Decision {
  const skip = (reason: SkipReason, message: string): Decision => ({ inject: false, reason, message });
  if (alreadyInjected(pod)) return skip('already_injected', `the pod already has ${PROXY_CONTAINER} or ${INIT_CONTAINER}`);
  if (podNamespace === 'kube-system') return skip('kube_system', 'pods in kube-system are never meshed');
  if (podNamespace === CONTROL_PLANE_NAMESPACE) return skip('control_plane_namespace', `pods in ${CONTROL_PLANE_NAMESPACE} are Skein's control plane`);
  if (pod.metadata?.labels?.[CONTROL_PLANE_LABEL] !== undefined) return skip('control_plane_component', `the pod is labelled ${CONTROL_PLANE_LABEL}`);

  const atPod = pod.metadata?.annotations?.[INJECT_ANNOTATION];
  const atNs = namespace?.metadata?.annotations?.[INJECT_ANNOTATION];
  if (atPod !== undefined && !VALID.includes(atPod)) {
    return skip('invalid_inject_annotation', `${INJECT_ANNOTATION}="${atPod.slice(0, 40)}" on the pod is not one of ${VALID.join(', ')}; injection is off until it is fixed`);
  }
  if (atPod === 'disabled') return skip('disabled_by_annotation', `the pod says ${INJECT_ANNOTATION}: disabled`);
  if (atPod !== 'enabled') {
    if (atNs !== undefined && !VALID.includes(atNs)) {
      return skip('invalid_inject_annotation', `${INJECT_ANNOTATION}="${atNs.slice(0, 40)}" on namespace ${podNamespace} is not one of ${VALID.join(', ')}; injection is off until it is fixed`);
    }
    if (atNs !== 'enabled') return skip('not_enabled', `neither the pod nor namespace ${podNamespace} says ${INJECT_ANNOTATION}: enabled`);
  }
  if (pod.spec?.hostNetwork) return skip('host_network', 'the pod uses the host network, where the proxy would capture the node\'s traffic');
  // Injecting would make the API server refuse the whole pod: start it unmeshed and say why instead.
  const psa = refusingPodSecurityLevel(namespace);
  if (psa) {
    return skip('pod_security_admission', `namespace ${podNamespace} enforces Pod Security "${psa}" (${PSA_ENFORCE_LABEL}), which refuses ${INIT_CONTAINER}'s NET_ADMIN and NET_RAW; `
      + `the pod starts unmeshed. To mesh it, label the namespace ${PSA_ENFORCE_LABEL}=privileged`);
  }
  return atPod === 'enabled'
    ? { inject: true, enabledAt: 'pod', reason: 'enabled_by_pod_annotation' }
    : { inject: true, enabledAt: 'namespace', reason: 'enabled_by_namespace_annotation' };
}
