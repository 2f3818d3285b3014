// Workload identity: the names (a contract, see DESIGN.md) and the client
// side of the certify protocol — a P-256 key that never leaves the process
// and a CSR whose only name is the workload's identity.

export const IDENTITY_NAMESPACE = 'skein-system';

export function identityName(serviceAccount: string, namespace: string, trustDomain: string): string {
  return `${serviceAccount}.${namespace}.serviceaccount.identity.${IDENTITY_NAMESPACE}.${trustDomain}`;
}

export function spiffeId(serviceAccount: string, namespace: string, trustDomain: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** The key and CSR live in csr.ts (node:crypto and a small DER writer, no @peculiar/x509 in the proxy). */
export { createCsr, type Csr } from './csr.ts';
