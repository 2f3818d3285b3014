// A trust anchor and an issuer for a new install, as the two objects the
// identity service reads: Secret skein-issuer (kubernetes.io/tls, so
// cert-manager can take it over later) and ConfigMap skein-trust-anchors.
// Generated on the user's machine; nothing random is ever baked into manifests.
// `node operator/identity/bootstrap.ts [trust-domain] | kubectl apply -f -`
import { stringify } from 'yaml';
import { createCa, createIntermediateCa, toPemPair } from '../../shared/tls.ts';
import { CONTROL_PLANE_NAMESPACE } from '../../api/mesh-names.ts';

const DAY = 86_400_000;

export interface Bootstrap { anchorPem: string; issuerCertPem: string; issuerKeyPem: string }

export async function bootstrapIdentity(trustDomain: string, anchorDays = 3650, issuerDays = 365): Promise<Bootstrap> {
  const anchor = await createCa({ commonName: `root.${CONTROL_PLANE_NAMESPACE}.${trustDomain}`, validForMs: anchorDays * DAY, pathLength: 1 });
  const issuer = await createIntermediateCa(anchor, { commonName: `identity.${CONTROL_PLANE_NAMESPACE}.${trustDomain}`, validForMs: issuerDays * DAY });
  const pair = await toPemPair(issuer);
  return { anchorPem: anchor.cert.toString('pem') + '\n', issuerCertPem: pair.certPem, issuerKeyPem: pair.keyPem };
}

export function renderIdentityObjects(b: Bootstrap): string {
  const secret = {
    apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls',
    metadata: { name: 'skein-issuer', namespace: CONTROL_PLANE_NAMESPACE, labels: { 'skein.dev/control-plane-component': 'identity' } },
    stringData: { 'tls.crt': b.issuerCertPem, 'tls.key': b.issuerKeyPem, 'ca.crt': b.anchorPem },
  };
  const anchors = {
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name: 'skein-trust-anchors', namespace: CONTROL_PLANE_NAMESPACE, labels: { 'skein.dev/control-plane-component': 'identity' } },
    data: { 'ca-bundle.crt': b.anchorPem },
  };
  return `${stringify(secret)}---\n${stringify(anchors)}`;
}

if (import.meta.main) {
  const trustDomain = process.argv[2] ?? 'cluster.local';
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(trustDomain)) {
    console.error(`"${trustDomain}" is not a DNS name; use something like cluster.local or mesh.example.com`);
    process.exit(2);
  }
  process.stdout.write(renderIdentityObjects(await bootstrapIdentity(trustDomain)));
}
