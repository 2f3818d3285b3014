// Puts the webhook's CA into the API server's configuration objects at run
// time, with server-side apply under a field manager of its own: the
// manifests carry no caBundle, GitOps tools see no drift on the fields they
// own, and they can be told to ignore exactly this one (docs/gitops.md).
import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

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

export async function applyCaBundle(kc: KubeConfig, ref: WebhookConfigRef, caPem: string): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  await client.patch(caBundlePatch(ref, caPem), undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
}
