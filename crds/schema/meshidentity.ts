// MeshIdentity (skein.dev/v1alpha1, cluster-scoped): how the identity CA
// signs and where its issuer and trust anchors live. The identity service
// reads the object named `default`; the zod schema below is the CRD's
// OpenAPI schema, the TypeScript type and the check the service runs, so a
// hostile value is refused with the same words everywhere.
import { z } from 'zod';
import type { CrdDefinition } from '../generate.ts';
import { conditionColumn, conditionList } from './conditions.ts';

export const MESH_IDENTITY_NAME = 'default';

const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
/** Go-style durations as Kubernetes users write them: 24h, 90m, 1h30m, 45s. */
const DURATION = /^([0-9]{1,6}(h|m|s))+$/;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000 };

/** Milliseconds of a duration the schema accepted. */
export function durationMs(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/([0-9]+)(h|m|s)/g)) total += Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 0);
  return total;
}

const duration = (what: string, min: string, max: string) => z.string()
  .regex(DURATION, { message: `${what} must be a duration such as 24h, 90m or 1h30m` })
  .refine((v) => durationMs(v) >= durationMs(min) && durationMs(v) <= durationMs(max), { message: `${what} must be between ${min} and ${max}` });

const objectName = (what: string) => z.string().min(1).max(253).regex(OBJECT_NAME, { message: `${what} must be a Kubernetes object name (lower case letters, digits, '-' and '.')` });
const namespaceName = z.string().min(1).max(63).regex(DNS_LABEL, { message: 'namespace must be a DNS label (lower case letters, digits and -)' });

export const MeshIdentitySpec = z.object({
  trustDomain: z.string().max(253).regex(DNS_NAME, { message: 'trustDomain must be a DNS name such as cluster.local or mesh.example.com' }).default('cluster.local')
    .describe('The trust domain of every identity: <sa>.<ns>.serviceaccount.identity.skein-system.<trustDomain>, spiffe://<trustDomain>/ns/<ns>/sa/<sa>'),
  issuer: z.object({
    secretName: objectName('issuer.secretName').default('skein-issuer').describe('A kubernetes.io/tls Secret: tls.crt is the issuer CA, tls.key its ECDSA P-256 key'),
    namespace: namespaceName.default('skein-system').describe('Namespace of the issuer Secret'),
  }).prefault({}).describe('Where the issuer (the intermediate CA that signs workload certificates) lives'),
  trustAnchors: z.object({
    configMapName: objectName('trustAnchors.configMapName').default('skein-trust-anchors').describe('A ConfigMap whose ca-bundle.crt holds the trust anchors (PEM); during a rotation, old and new'),
    namespace: namespaceName.default('skein-system').describe('Namespace of the trust-anchor ConfigMap'),
  }).prefault({}).describe('The trust anchors, published to every meshed namespace as ConfigMap skein-trust-roots'),
  leafLifetime: duration('leafLifetime', '10m', '720h').default('24h').describe('Lifetime of a workload certificate; proxies renew at 70 % of it'),
  clockSkew: duration('clockSkew', '0s', '10m').default('1m').describe('How far back a certificate\'s notBefore is set, for peers whose clocks run behind'),
  expiringSoonMargin: duration('expiringSoonMargin', '1h', '8760h').default('720h').describe('IssuerExpiringSoon turns True when the issuer has less than this left'),
}).strict();

export type MeshIdentitySpecInput = z.input<typeof MeshIdentitySpec>;
export type MeshIdentitySettings = z.output<typeof MeshIdentitySpec>;

/** The settings a valid spec yields, or the problems a user must fix, one per field. */
export function parseMeshIdentitySpec(spec: unknown): { ok: true; settings: MeshIdentitySettings } | { ok: false; problems: string[] } {
  const r = MeshIdentitySpec.safeParse(spec ?? {});
  if (r.success) return { ok: true, settings: r.data };
  return { ok: false, problems: r.error.issues.map((i) => `spec.${i.path.join('.') || '(root)'}: ${i.message}`) };
}

const certificateStatus = z.object({
  subject: z.string().optional(),
  fingerprintSHA256: z.string().optional().describe('SHA-256 of the DER certificate, colon-separated hex as openssl prints it'),
  notAfter: z.string().optional(),
});

export const MeshIdentityStatus = z.object({
  observedGeneration: z.number().int().optional(),
  issuer: certificateStatus.optional().describe('The issuer the service is signing with'),
  trustAnchors: z.array(certificateStatus).optional().describe('The anchors of the current bundle'),
  certificatesIssued: z.number().int().optional().describe('Certificates issued, counted since the object was created'),
  certificatesRejected: z.number().int().optional().describe('Certify requests refused, counted since the object was created'),
  conditions: conditionList.optional(),
});
export type MeshIdentityStatusValue = z.infer<typeof MeshIdentityStatus>;
export type { Condition } from './conditions.ts';

export const meshIdentityCrd: CrdDefinition = {
  group: 'skein.dev',
  names: { plural: 'meshidentities', singular: 'meshidentity', kind: 'MeshIdentity', listKind: 'MeshIdentityList', shortNames: ['mi'], categories: ['skein'] },
  scope: 'Cluster',
  storageVersion: 'v1alpha1',
  versions: { v1alpha1: MeshIdentitySpec },
  statusSchema: MeshIdentityStatus,
  printerColumns: [
    { name: 'Trust Domain', type: 'string', jsonPath: '.spec.trustDomain' },
    { name: 'Issuer Valid', type: 'string', jsonPath: conditionColumn('IssuerValid') },
    { name: 'Expiring Soon', type: 'string', jsonPath: conditionColumn('IssuerExpiringSoon') },
    { name: 'Anchor Mismatch', type: 'string', jsonPath: conditionColumn('TrustAnchorMismatch') },
    // A string, not a date: kubectl prints a date column as an age, and a future one as <invalid>.
    { name: 'Issuer Expires', type: 'string', jsonPath: '.status.issuer.notAfter' },
    { name: 'Issued', type: 'integer', jsonPath: '.status.certificatesIssued' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  status: true,
};
