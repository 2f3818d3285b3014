// The identity CA's signing core: check a CSR against the identity the
// caller proved (from its ServiceAccount token) and sign a short-lived leaf.
// Every refusal has a stable code; nothing is issued unless every check passes.
import { x509 } from '../../shared/x509.ts';
import type { webcrypto } from 'node:crypto';
import { issueLeaf, type KeyedCertificate } from '../../shared/tls.ts';

export type RefusalCode =
  | 'csr_malformed' | 'csr_signature_invalid' | 'key_not_p256' | 'name_mismatch' | 'extra_names'
  | 'token_missing' | 'token_invalid' | 'token_not_service_account';

export class CertifyRefused extends Error {
  readonly code: RefusalCode;
  constructor(code: RefusalCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface SignOptions {
  identity: string;
  spiffeId: string;
  lifetimeMs: number;
  /** Backdating for verifiers whose clocks run a little behind. */
  clockSkewMs: number;
}

/** Parses and checks a CSR; returns the public key to certify (as parsed: no import/export round trip). */
export async function checkCsr(csrPem: string, expectedIdentity: string): Promise<x509.PublicKey> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new CertifyRefused('csr_malformed', `the CSR cannot be parsed: ${err instanceof Error ? err.message : String(err)}`);
  }
  const alg = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') {
    throw new CertifyRefused('key_not_p256', `the CSR's key is ${alg.name ?? 'unknown'} ${alg.namedCurve ?? ''}; Skein certifies ECDSA P-256 keys only`);
  }
  if (!(await csr.verify())) throw new CertifyRefused('csr_signature_invalid', 'the CSR is not signed by the key it carries');
  const san = csr.getExtension('2.5.29.17') as x509.SubjectAlternativeNameExtension | null; // subjectAltName
  const names = san?.names.toJSON() ?? [];
  const dns = names.filter((n) => n.type === 'dns').map((n) => n.value);
  if (names.length !== dns.length || dns.length > 1) {
    throw new CertifyRefused('extra_names', `the CSR asks for ${names.map((n) => `${n.type}:${n.value}`).join(', ')}; it may ask for exactly one DNS name, ${expectedIdentity}`);
  }
  if (dns[0] !== expectedIdentity) {
    throw new CertifyRefused('name_mismatch', `the CSR asks for "${dns[0] ?? '(no name)'}" but the token proves ${expectedIdentity}`);
  }
  const cn = csr.subjectName.getField('CN');
  if (cn.length > 0 && cn.some((v) => v !== expectedIdentity)) {
    throw new CertifyRefused('name_mismatch', `the CSR's subject CN "${cn.join(',')}" is not ${expectedIdentity}`);
  }
  return csr.publicKey;
}

/** The leaf: DNS and SPIFFE names, client and server auth, never outliving the issuer. */
export async function signLeaf(issuer: KeyedCertificate, publicKey: x509.PublicKey | webcrypto.CryptoKey, o: SignOptions): Promise<x509.X509Certificate> {
  const { cert } = await issueLeaf(issuer, {
    subject: `CN=${o.identity}`,
    dnsNames: [o.identity],
    uris: [o.spiffeId],
    usages: ['server', 'client'],
    validForMs: o.lifetimeMs,
    publicKey,
    backdateMs: o.clockSkewMs,
  });
  return cert;
}
