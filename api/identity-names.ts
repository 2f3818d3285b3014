// Workload identity names (DESIGN.md, "Names that are a contract"): the DNS
// SAN every proxy certificate carries and checks, and the SPIFFE ID beside
// it. Every component builds them here; none spells the format by hand.
import { CONTROL_PLANE_NAMESPACE } from './mesh-names.ts';

/** `<sa>.<ns>.serviceaccount.identity.skein-system.<trust-domain>`: the DNS SAN. */
export function identityName(serviceAccount: string, namespace: string, trustDomain: string): string {
  return `${serviceAccount}${namespaceIdentitySuffix(namespace, trustDomain)}`;
}

/** What every identity of one namespace ends with: `.<ns>.serviceaccount.identity.skein-system.<trust-domain>`. */
export function namespaceIdentitySuffix(namespace: string, trustDomain: string): string {
  return `.${namespace}.serviceaccount.identity.${CONTROL_PLANE_NAMESPACE}.${trustDomain}`;
}

/** `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`: the URI SAN. */
export function spiffeId(serviceAccount: string, namespace: string, trustDomain: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** The ServiceAccounts the control plane runs as; proxies check the identity servers present these. */
export const CONTROL_PLANE_ACCOUNTS = { identity: 'skein-identity', discovery: 'skein-controller' } as const;

/** The identity a control-plane server presents to proxies. */
export function controlPlaneIdentity(account: keyof typeof CONTROL_PLANE_ACCOUNTS, trustDomain: string): string {
  return identityName(CONTROL_PLANE_ACCOUNTS[account], CONTROL_PLANE_NAMESPACE, trustDomain);
}
