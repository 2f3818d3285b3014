// What the proxy in one pod may accept, per port (api/discovery-protocol
// InboundUpdate): the default policy (pod annotation, else namespace, else
// the cluster's), the authorizations of every Accepted AuthorizationPolicy
// that targets one of its ports, the kubelet's HTTP probes (always let in,
// so `deny` never kills a pod) and the cluster networks.
import type { V1Pod } from '@kubernetes/client-node';
import { DEFAULT_INBOUND_POLICIES, type Authorization, type DefaultInboundPolicy, type InboundUpdate } from '../../api/discovery-protocol.ts';
import { identityName, namespaceIdentitySuffix } from '../../api/identity-names.ts';
import { DEFAULT_INBOUND_POLICY_ANNOTATION, parseAuthorizationPolicySpec, type AuthorizationPolicySpecValue } from '../../api/crds/authorizationpolicy.ts';
import type { Parsed } from '../../api/crds/problems.ts';
import { httpProbes, podPort } from '../../api/pod-probes.ts';
import type { ClusterView, PolicyObject } from '../discovery/cache.ts';

export interface InboundConfig {
  trustDomain: string;
  defaultInboundPolicy: DefaultInboundPolicy;
  clusterNetworks: string[];
}

/**
 * SKEIN_CLUSTER_NETWORKS when unset: the ranges real clusters take pods and
 * nodes from (RFC 1918 and RFC 6598 shared space, Linkerd's default). The test
 * bed's 198.18.0.0/15 is not among them; it sets its own.
 */
export const DEFAULT_CLUSTER_NETWORKS = ['10.0.0.0/8', '100.64.0.0/10', '172.16.0.0/12', '192.168.0.0/16'];

const parsedPolicies = new WeakMap<object, Parsed<AuthorizationPolicySpecValue>>();

/** The spec with the problems a user must fix; remembered per object. */
export function parseAuthorizationPolicy(ap: PolicyObject): Parsed<AuthorizationPolicySpecValue> {
  const cached = parsedPolicies.get(ap);
  if (cached) return cached;
  const parsed = parseAuthorizationPolicySpec(ap.spec);
  parsedPolicies.set(ap, parsed);
  return parsed;
}

export function isDefaultInboundPolicy(v: string | undefined): v is DefaultInboundPolicy {
  return (DEFAULT_INBOUND_POLICIES as readonly string[]).includes(v ?? '');
}

export interface LabelSelector {
  matchLabels?: Record<string, string> | undefined;
  matchExpressions?: { key: string; operator: string; values?: string[] | undefined }[] | undefined;
}

/** Whether `labels` satisfy a Kubernetes label selector. */
export function selectorMatches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  return (selector.matchExpressions ?? []).every((e) => {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key] ?? '';
    switch (e.operator) {
      case 'In': return has && (e.values ?? []).includes(value);
      case 'NotIn': return !has || !(e.values ?? []).includes(value);
      case 'Exists': return has;
      case 'DoesNotExist': return !has;
      default: return false;
    }
  });
}

/** The pod port an AuthorizationPolicy protects on this pod, or undefined when it does not target it. */
export function targetedPort(view: ClusterView, pod: V1Pod, spec: AuthorizationPolicySpecValue): number | undefined {
  const labels = pod.metadata?.labels ?? {};
  const t = spec.target;
  if (t.podSelector) return selectorMatches(t.podSelector, labels) ? podPort(pod, t.port) : undefined;
  const svc = t.service === undefined ? undefined : view.service(pod.metadata?.namespace ?? '', t.service);
  const selector = svc?.spec?.selector;
  // A Service without a selector has hand-made endpoints: none of them is known to be this pod.
  if (!selector || Object.keys(selector).length === 0 || !selectorMatches({ matchLabels: selector }, labels)) return undefined;
  const sp = svc.spec?.ports?.find((p) => (typeof t.port === 'number' ? p.port === t.port : p.name === t.port));
  if (!sp) return undefined;
  const target = sp.targetPort ?? sp.port;
  return podPort(pod, typeof target === 'number' ? target : /^\d+$/.test(target) ? Number(target) : target);
}

/** An allow list as identities a proxy compares with its client's certificate. */
export function authorizationOf(policy: string, namespace: string, allow: AuthorizationPolicySpecValue['allow'], trustDomain: string): Authorization {
  const identities = new Set<string>();
  const suffixes = new Set<string>();
  let anyMeshed = allow.meshTLS === true;
  for (const id of allow.identities ?? []) {
    if (id === '*') anyMeshed = true;
    else if (id.startsWith('*.')) suffixes.add(id.slice(1));
    else identities.add(id);
  }
  for (const sa of allow.serviceAccounts ?? []) identities.add(identityName(sa.name, sa.namespace ?? namespace, trustDomain));
  for (const ns of allow.namespaces ?? []) suffixes.add(namespaceIdentitySuffix(ns, trustDomain));
  return {
    policy, identities: [...identities].sort(), identitySuffixes: [...suffixes].sort(), anyMeshed,
    unauthenticatedNetworks: [...(allow.unauthenticated?.networks ?? [])],
  };
}

export function defaultPolicyOf(view: ClusterView, pod: V1Pod, cfg: InboundConfig): DefaultInboundPolicy {
  const fromPod = pod.metadata?.annotations?.[DEFAULT_INBOUND_POLICY_ANNOTATION];
  if (isDefaultInboundPolicy(fromPod)) return fromPod;
  const fromNs = view.namespace(pod.metadata?.namespace ?? '')?.metadata?.annotations?.[DEFAULT_INBOUND_POLICY_ANNOTATION];
  return isDefaultInboundPolicy(fromNs) ? fromNs : cfg.defaultInboundPolicy;
}

export function compileInbound(view: ClusterView, pod: V1Pod, cfg: InboundConfig): InboundUpdate {
  const namespace = pod.metadata?.namespace ?? '';
  const ports = new Map<number, Authorization[]>();
  const policies = [...view.authorizationPolicies(namespace)].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const ap of policies) {
    const parsed = parseAuthorizationPolicy(ap);
    if (!parsed.ok) continue;
    const port = targetedPort(view, pod, parsed.spec);
    if (port === undefined) continue;
    const list = ports.get(port) ?? [];
    list.push(authorizationOf(`${namespace}/${ap.metadata?.name ?? ''}`, namespace, parsed.spec.allow, cfg.trustDomain));
    ports.set(port, list);
  }
  return {
    type: 'inbound',
    defaultPolicy: defaultPolicyOf(view, pod, cfg),
    ports: [...ports.entries()].sort((a, b) => a[0] - b[0]).map(([port, authorizations]) => ({ port, authorizations })),
    probes: httpProbes(pod),
    clusterNetworks: cfg.clusterNetworks,
  };
}
