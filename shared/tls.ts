// Certificate helpers on Node's WebCrypto and @peculiar/x509 (node-forge cannot
// do ECDSA). Everything Skein mints is ECDSA P-256 with SHA-256.
import { webcrypto, randomBytes } from 'node:crypto';
import { x509 } from './x509.ts';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

export const EC_P256: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

export type Usage = 'server' | 'client';

export interface KeyedCertificate {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

export interface PemPair {
  certPem: string;
  keyPem: string;
}

export interface CaOptions {
  commonName: string;
  /** Validity from now, in milliseconds. */
  validForMs: number;
  /** Path length the CA may delegate to; 0 means it signs only leaves. */
  pathLength?: number;
}

export interface LeafOptions {
  /** Subject as an RFC 4514 string, e.g. `CN=admin, O=system:masters`. */
  subject: string;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  uris?: readonly string[];
  usages: readonly Usage[];
  validForMs: number;
  /** Sign someone else's key; otherwise a fresh key pair is generated. */
  publicKey?: CryptoKey;
  /** Backdating tolerates small clock skew between the issuer and verifiers. */
  backdateMs?: number;
}

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
}

/** A positive 128-bit serial (RFC 5280 §4.1.2.2: at most 20 octets, never negative). */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

export async function createCa(opts: CaOptions): Promise<KeyedCertificate> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${opts.commonName}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + opts.validForMs),
    signingAlgorithm: EC_P256,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, opts.pathLength ?? 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys };
}

/** A CA signed by another: the mesh's issuer under its trust anchor. */
export async function createIntermediateCa(parent: KeyedCertificate, opts: CaOptions): Promise<KeyedCertificate> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${opts.commonName}`,
    issuer: parent.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(Math.min(now + opts.validForMs, parent.cert.notAfter.getTime())),
    signingAlgorithm: EC_P256,
    publicKey: keys.publicKey,
    signingKey: parent.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, opts.pathLength ?? 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(parent.keys.publicKey),
    ],
  });
  return { cert, keys };
}

export async function issueLeaf(ca: KeyedCertificate, opts: LeafOptions): Promise<{ cert: x509.X509Certificate; keys?: CryptoKeyPair }> {
  const keys = opts.publicKey ? undefined : await generateKeyPair();
  const publicKey = opts.publicKey ?? keys!.publicKey;
  const now = Date.now();
  const notAfter = Math.min(now + opts.validForMs, ca.cert.notAfter.getTime());
  const names: x509.JsonGeneralName[] = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(opts.uris ?? []).map((value) => ({ type: 'url' as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(opts.usages.map(ekuOf), false),
    await authorityKeyId(ca),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: opts.subject,
    issuer: ca.cert.subject,
    notBefore: new Date(now - (opts.backdateMs ?? 60_000)),
    notAfter: new Date(notAfter),
    signingAlgorithm: EC_P256,
    publicKey,
    signingKey: ca.keys.privateKey,
    extensions,
  });
  return keys ? { cert, keys } : { cert };
}

/** The issuer's key identifier is the same for every leaf: computed once per CA key. */
const akiCache = new WeakMap<CryptoKey, x509.AuthorityKeyIdentifierExtension>();
async function authorityKeyId(ca: KeyedCertificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  let aki = akiCache.get(ca.keys.publicKey);
  if (!aki) {
    aki = await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey);
    akiCache.set(ca.keys.publicKey, aki);
  }
  return aki;
}

function ekuOf(usage: Usage): string {
  return usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth;
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return pem('PRIVATE KEY', der);
}

export async function publicKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('spki', key);
  return pem('PUBLIC KEY', der);
}

export async function toPemPair(kc: KeyedCertificate): Promise<PemPair> {
  return { certPem: kc.cert.toString('pem') + '\n', keyPem: await privateKeyPem(kc.keys.privateKey) };
}

/** Loads a CA back from PEM so it can sign again (e.g. after a restart). */
export async function caFromPem(pair: PemPair): Promise<KeyedCertificate> {
  const cert = new x509.X509Certificate(pair.certPem);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', derOf(pair.keyPem), EC_P256, true, ['sign']);
  const publicKey = await cert.publicKey.export(EC_P256, ['verify']) as CryptoKey;
  return { cert, keys: { privateKey, publicKey } };
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function derOf(pemText: string): ArrayBuffer {
  const b64 = pemText.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const buf = Buffer.from(b64, 'base64');
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}
