// `kubectl skein uninstall`: what to delete, for `kubectl delete -f -`.
// Webhook configurations go first, so the API server stops calling a webhook
// that is being removed; CRDs (and with them every user's ServiceProfile,
// TrafficSplit...) only with --crds, last.
import { joinStreams, parseObjects, toStream, type KubeObject } from './manifests.ts';

const FIRST = new Set(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);

/** Only what identifies each object: deleting needs no more, and the output is short to read. */
function reference(o: KubeObject): KubeObject {
  return { apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) } };
}

export function composeUninstall(controlPlane: string, crds: string | undefined): string {
  const objects = parseObjects(controlPlane).map(reference);
  const ordered = [...objects.filter((o) => FIRST.has(o.kind)), ...objects.filter((o) => !FIRST.has(o.kind))];
  return joinStreams([toStream(ordered), crds === undefined ? '' : toStream(parseObjects(crds).map(reference))]);
}

/**
 * The identity controller writes a trust-roots ConfigMap into each meshed
 * namespace at run time, so no file names them. They stay on uninstall on
 * purpose: meshed pods still mount them, and a pod restarted without its
 * ConfigMap would not start. Removing them is one label-selected delete.
 */
export const TRUST_ROOTS_NOTE = 'kubectl skein: the skein-trust-roots ConfigMaps in meshed namespaces are kept for the pods still meshed; '
  + 'once those are restarted or gone, remove them with: kubectl delete configmap -A -l app.kubernetes.io/managed-by=skein-identity';
