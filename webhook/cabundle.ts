// Puts the webhook's CA into the API server's configuration objects at run
// time, with server-side apply under a field manager of its own: the
// manifests carry no caBundle, GitOps tools see no drift on the fields they
// own, and they can be told to ignore exactly this one (docs/gitops.md).
import { AdmissionregistrationV1Api, KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

export const FIELD_MANAGER = 'skein-webhook-cabundle';

export interface WebhookConfigRef {
  kind: 'MutatingWebhookConfiguration' | 'ValidatingWebhookConfiguration';
  name: string;
  /** The names of its webhooks, each of which gets the bundle. */
  webhooks: readonly string[];
}

/** The SSA body: only the fields this manager owns (the list is keyed by webhook name). */
export function caBundlePatch(ref: WebhookConfigRef, caPem: string): KubernetesObject & { webhooks: unknown[] } {
  const caBundle = Buffer.from(caPem).toString('base64');
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: ref.kind,
    metadata: { name: ref.name },
    webhooks: ref.webhooks.map((name) => ({ name, clientConfig: { caBundle } })),
  };
}

/** The SSA body for a CRD's conversion webhook: only the caBundle (and the fields its list position needs). */
export function crdCaBundlePatch(crdName: string, caPem: string): KubernetesObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: crdName },
    spec: { conversion: { strategy: 'Webhook', webhook: { conversionReviewVersions: ['v1'], clientConfig: { caBundle: Buffer.from(caPem).toString('base64') } } } },
  } as KubernetesObject;
}

export async function applyCaBundle(kc: KubeConfig, body: KubernetesObject): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  await client.patch(body, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
}

/** Whether every webhook of `ref` already trusts `caPem`: a replica is ready only once the API server can verify what it serves. */
export async function caBundleTrusts(kc: KubeConfig, ref: WebhookConfigRef, caPem: string): Promise<boolean> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const config = ref.kind === 'MutatingWebhookConfiguration'
    ? await api.readMutatingWebhookConfiguration({ name: ref.name })
    : await api.readValidatingWebhookConfiguration({ name: ref.name });
  const wanted = caPem.trim();
  const ours = (config.webhooks ?? []).filter((w) => ref.webhooks.includes(w.name));
  return ours.length === ref.webhooks.length && ours.every((w) => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8').includes(wanted));
}
