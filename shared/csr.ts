// The workload's key and certificate signing request, with node:crypto and
// the DER writer beside it (der.ts) rather than @peculiar/x509: the proxy
// makes one CSR at start, and loading @peculiar/x509 with reflect-metadata
// for it cost ~7 MiB of every sidecar's memory. PKCS#10 (RFC 2986) with the
// one shape the identity CA accepts (operator/identity/sign.ts): subject
// CN=<identity>, one DNS SAN <identity> in an extensionRequest, a P-256 key,
// ECDSA with SHA-256.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { bitString, explicit, implicitPrimitive, integer, octets, oid, seq, set, utf8 } from './der.ts';

export interface Csr {
  csrPem: string;
  keyPem: string;
  privateKey: KeyObject;
}

const OID = {
  commonName: '2.5.4.3',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
} as const;

/** A DNS name as RFC 5280 allows it in a SAN (IA5String): what identities are made of. */
const DNS_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export class CsrError extends Error {}

/** The DER of the request for `identity`, signed with `privateKey` (whose public half is `spki`). Pure but for the signature. */
export function csrDer(identity: string, spki: Buffer, privateKey: KeyObject): Buffer {
  if (identity.length > 253 || !DNS_NAME.test(identity)) throw new CsrError(`"${identity.slice(0, 80)}" is not a DNS name; a workload identity is <sa>.<ns>.serviceaccount.identity.<control-plane-ns>.<trust-domain>`);
  const san = seq(implicitPrimitive(2, Buffer.from(identity, 'ascii')));
  const info = seq(
    integer(Buffer.from([0])),
    seq(set(seq(oid(OID.commonName), utf8(identity)))),
    spki,
    explicit(0, seq(oid(OID.extensionRequest), set(seq(seq(oid(OID.subjectAltName), octets(san)))))),
  );
  const signature = sign('sha256', info, { key: privateKey, dsaEncoding: 'der' });
  return seq(info, seq(oid(OID.ecdsaWithSha256)), bitString(signature));
}

export function pem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** A new P-256 key that never leaves the process, and the CSR naming `identity`. */
export function createCsr(identity: string): Csr {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return { csrPem: pem('CERTIFICATE REQUEST', csrDer(identity, spki, privateKey)), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, privateKey };
}
