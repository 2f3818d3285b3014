// AuthorizationPolicy (skein.dev/v1alpha1, namespaced): who may connect to a
// Service port, or to a port of the pods a selector picks. A port that no
// policy targets follows the default inbound policy; once a policy targets
// it, only the clients some policy allows get through.
//
// The default policy is the annotation config.skein.dev/default-inbound-policy
// on a pod or its namespace (the injector hands it to the proxy as
// SKEIN_DEFAULT_INBOUND_POLICY; the cluster default is all-unauthenticated).
// Kubelet probes keep working under every one of them.
import { isIP } from 'node:net';
import { z } from 'zod';
import type { CrdDefinition } from './definition.ts';
import { PolicyStatus, statusColumns } from './conditions.ts';
import { parseSpec, type Parsed } from './problems.ts';

export const DEFAULT_INBOUND_POLICY_ANNOTATION = 'config.skein.dev/default-inbound-policy';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_NAME = '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*';
/** `*` (every meshed client), a DNS-like identity with an optional `*.` prefix, or a SPIFFE ID. */
const IDENTITY = new RegExp(`^(\\*|(\\*\\.)?${DNS_NAME}|spiffe://${DNS_NAME}(/[-A-Za-z0-9._~%!$&'()*+,;=:@]+)+)$`);
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

const namespaceName = z.string().min(1).max(63).regex(DNS_LABEL, { message: 'a namespace is a DNS label: lower case letters, digits and -' });
const objectName = z.string().min(1).max(253).regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, { message: 'a Kubernetes object name: lower case letters, digits, - and .' });

const port = z.union([
  z.number().int().min(1).max(65535),
  z.string().min(1).max(15).regex(PORT_NAME, { message: 'a port name is at most 15 lower case letters, digits and -' }),
]).meta({ 'x-kubernetes-int-or-string': true, description: 'The port: a number (8080) or the name of a Service or container port (http)' });

const labelSelector = z.object({
  matchLabels: z.record(
    z.string().max(317).regex(LABEL_KEY, { message: 'a label key such as app or app.kubernetes.io/name' }),
    z.string().max(63).regex(LABEL_VALUE, { message: 'a label value: at most 63 letters, digits, -, _ and .' }),
  ).optional().describe('Pods whose labels include all of these'),
  matchExpressions: z.array(z.object({
    key: z.string().max(317).regex(LABEL_KEY, { message: 'a label key such as app or app.kubernetes.io/name' }),
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
    values: z.array(z.string().max(63).regex(LABEL_VALUE)).max(256).optional(),
  })).max(64).optional().describe('Pods whose labels satisfy all of these'),
}).describe('A label selector over the pods of this namespace; {} selects every pod');

/** A CIDR such as 10.0.0.0/8 or fd00::/8; the address and prefix length checked. */
export function cidrProblem(text: string): string | undefined {
  const [address = '', prefix, ...rest] = text.split('/');
  const family = isIP(address);
  const bits = family === 4 ? 32 : 128;
  if (family === 0 || prefix === undefined || rest.length > 0 || !/^[0-9]{1,3}$/.test(prefix) || Number(prefix) > bits) {
    return `"${text.slice(0, 64)}" is not a CIDR; write an address and a prefix length, e.g. 10.0.0.0/8, 0.0.0.0/0 or ::/0`;
  }
  return undefined;
}

const cidr = z.string().max(64).superRefine((v, ctx) => {
  const problem = cidrProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const allow = z.object({
  identities: z.array(z.string().max(512).regex(IDENTITY, {
    message: 'an identity is * (every meshed client), a name like web.shop.serviceaccount.identity.skein-system.cluster.local (a leading *. is a wildcard) or a SPIFFE ID like spiffe://cluster.local/ns/shop/sa/web',
  })).max(256).optional().describe('Client identities: *, web.shop.serviceaccount.identity.skein-system.cluster.local, *.shop.serviceaccount.identity.skein-system.cluster.local, spiffe://cluster.local/ns/shop/sa/web'),
  serviceAccounts: z.array(z.object({
    name: objectName.describe('The ServiceAccount'),
    namespace: namespaceName.optional().describe('Its namespace; the policy\'s own when left out'),
  })).max(256).optional().describe('Clients running as these ServiceAccounts'),
  namespaces: z.array(namespaceName).max(256).optional().describe('Clients running as any ServiceAccount of these namespaces'),
  meshTLS: z.boolean().optional().describe('true: any meshed client (any identity this mesh issued)'),
  unauthenticated: z.object({
    networks: z.array(cidr).max(256).describe('Source networks, e.g. 10.0.0.0/8 for an ingress or a node network'),
  }).optional().describe('Clients without mesh identity from these networks (probes, ingress controllers)'),
}).describe('Who may connect; a client allowed by any entry gets through');

export type Allow = z.infer<typeof allow>;

/** True when the allow list lets someone in: a policy that names no one would only deny. */
export function namesSomeone(a: Allow): boolean {
  return (a.identities?.length ?? 0) > 0 || (a.serviceAccounts?.length ?? 0) > 0 || (a.namespaces?.length ?? 0) > 0
    || a.meshTLS === true || (a.unauthenticated?.networks.length ?? 0) > 0;
}

export const AuthorizationPolicySpec = z.object({
  target: z.object({
    service: objectName.optional().describe('A Service of this namespace'),
    podSelector: labelSelector.optional(),
    port: port,
  }).superRefine((t, ctx) => {
    if (t.service !== undefined && t.podSelector !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'name either service or podSelector, not both; write two policies to cover both', path: [] });
    } else if (t.service === undefined && t.podSelector === undefined) {
      ctx.addIssue({ code: 'custom', message: 'name what the policy protects: service: <name> or podSelector: {matchLabels: {...}}, with port', path: [] });
    }
  }).describe('What the policy protects: a Service port, or a port of the pods a selector picks'),
  allow: allow.superRefine((a, ctx) => {
    if (!namesSomeone(a)) {
      ctx.addIssue({ code: 'custom', message: 'the policy names no one, so it would only deny; list identities, serviceAccounts or namespaces, set meshTLS: true, or give unauthenticated.networks (delete the policy to fall back to the default policy)' });
    }
  }),
});

export type AuthorizationPolicySpecValue = z.infer<typeof AuthorizationPolicySpec>;

/** The spec a valid object yields, or the problems a user must fix, each with its field. */
export function parseAuthorizationPolicySpec(spec: unknown): Parsed<AuthorizationPolicySpecValue> {
  return parseSpec(AuthorizationPolicySpec, spec);
}

export const authorizationPolicyCrd: CrdDefinition = {
  group: 'skein.dev',
  names: { plural: 'authorizationpolicies', singular: 'authorizationpolicy', kind: 'AuthorizationPolicy', listKind: 'AuthorizationPolicyList', shortNames: ['authz'], categories: ['skein'] },
  scope: 'Namespaced',
  storageVersion: 'v1alpha1',
  versions: { v1alpha1: AuthorizationPolicySpec },
  status: true,
  statusSchema: PolicyStatus,
  printerColumns: [
    { name: 'Service', type: 'string', jsonPath: '.spec.target.service' },
    { name: 'Port', type: 'string', jsonPath: '.spec.target.port' },
    ...statusColumns,
  ],
};
