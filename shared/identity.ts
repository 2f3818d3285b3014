// Workload identity, the client side of the certify protocol: a P-256 key
// that never leaves the process and a CSR whose only name is the workload's
// identity (api/identity-names.ts builds the name). The key and CSR live in
// csr.ts (node:crypto and a small DER writer, no @peculiar/x509 in the proxy).
export { createCsr, type Csr } from './csr.ts';
