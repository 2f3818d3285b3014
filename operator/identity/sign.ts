// The identity CA's signing core: check a CSR against the identity the
// caller proved (from its ServiceAccount token) and sign a short-lived leaf.
// Every refusal has a stable code; nothing is issued unless every check passes.
// Both run on raw DER (./der.ts) and node:crypto: this is the CA's hot path.
import { createPublicKey, KeyObject, randomBytes, sign, verify } from 'node:crypto';
import type { KeyedCertificate } from '../../shared/tls.ts';
import { readTlv, children, expectTag, decodeOid, DerError, seq, set, octets, bitString, bool, explicit, utf8, integer, oid, time, tlv, type Tlv } from '../../shared/der.ts';
import { SkeinError, messageOf } from '../../api/errors.ts';

export type RefusalCode =
  | 'csr_malformed' | 'csr_signature_invalid' | 'key_not_p256' | 'name_mismatch' | 'extra_names'
  | 'token_missing' | 'token_invalid' | 'token_not_service_account';

export class CertifyRefused extends SkeinError {
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

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
  subjectKeyId: '2.5.29.14',
  commonName: '2.5.4.3',
};

/** What a checked CSR yields: the key to certify, as its SubjectPublicKeyInfo. */
export interface CheckedCsr { spki: Buffer }

function pemBody(pem: string): Buffer {
  const m = /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]*?)-----END (?:NEW )?CERTIFICATE REQUEST-----/.exec(pem);
  const b64 = (m?.[1] ?? '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new DerError('not a PEM certificate request');
  return Buffer.from(b64, 'base64');
}

interface ParsedCsr { cri: Buffer; spki: Buffer; sigAlg: string; signature: Buffer; names: { type: string; value: string }[]; commonNames: string[] }

function parseCsr(der: Buffer): ParsedCsr {
  const top = expectTag(readTlv(der, 0), 0x30, 'CertificationRequest');
  if (top.end !== der.length) throw new DerError('trailing bytes after the request');
  const [criT, algT, sigT] = children(der, top);
  const cri = expectTag(criT, 0x30, 'certificationRequestInfo');
  const [, subjectT, spkiT, attrsT] = children(der, cri);
  const subject = expectTag(subjectT, 0x30, 'subject');
  const spki = expectTag(spkiT, 0x30, 'subjectPublicKeyInfo');
  const alg = children(der, expectTag(algT, 0x30, 'signatureAlgorithm'))[0];
  const sig = expectTag(sigT, 0x03, 'signature');
  // A signature is whole bytes: a non-zero unused-bits count is a mangled request, not a variant of the signed one.
  if (sig.contentStart >= sig.end || der[sig.contentStart] !== 0) throw new DerError('the signature BIT STRING must have 0 unused bits');
  const commonNames: string[] = [];
  for (const rdn of children(der, subject)) {
    for (const atv of children(der, rdn)) {
      const [type, value] = children(der, atv);
      if (type && value && decodeOid(der.subarray(expectTag(type, 0x06, 'attribute type').contentStart, type.end)) === OID.commonName) {
        commonNames.push(der.subarray(value.contentStart, value.end).toString('utf8'));
      }
    }
  }
  return {
    cri: der.subarray(cri.start, cri.end),
    spki: der.subarray(spki.start, spki.end),
    sigAlg: decodeOid(der.subarray(expectTag(alg, 0x06, 'signature algorithm').contentStart, alg!.end)),
    signature: der.subarray(sig.contentStart + 1, sig.end),
    names: attrsT && attrsT.tag === 0xa0 ? requestedNames(der, attrsT) : [],
    commonNames,
  };
}

/** The subjectAltName entries of the extensionRequest attribute. */
function requestedNames(der: Buffer, attrs: Tlv): { type: string; value: string }[] {
  const names: { type: string; value: string }[] = [];
  for (const attr of children(der, attrs)) {
    const [type, values] = children(der, attr);
    if (!type || !values || decodeOid(der.subarray(type.contentStart, type.end)) !== OID.extensionRequest) continue;
    for (const exts of children(der, values)) {
      for (const ext of children(der, exts)) {
        const parts = children(der, ext);
        const id = parts[0];
        const value = parts[parts.length - 1];
        if (!id || !value || decodeOid(der.subarray(id.contentStart, id.end)) !== OID.subjectAltName) continue;
        const general = readTlv(der, value.contentStart, value.end);
        for (const gn of children(der, expectTag(general, 0x30, 'GeneralNames'))) {
          const text = der.subarray(gn.contentStart, gn.end).toString('latin1');
          names.push({ type: gn.tag === 0x82 ? 'dns' : gn.tag === 0x86 ? 'uri' : gn.tag === 0x87 ? 'ip' : gn.tag === 0x81 ? 'email' : `tag-0x${gn.tag.toString(16)}`, value: text });
        }
      }
    }
  }
  return names;
}

/** Parses and checks a CSR; returns the key to certify. */
export function checkCsr(csrPem: string, expectedIdentity: string): Promise<CheckedCsr> {
  return Promise.resolve().then(() => {
    let csr: ParsedCsr;
    try {
      csr = parseCsr(pemBody(csrPem));
    } catch (err) {
      throw new CertifyRefused('csr_malformed', `the CSR cannot be parsed: ${messageOf(err)}`);
    }
    let key: KeyObject;
    try {
      key = createPublicKey({ key: csr.spki, format: 'der', type: 'spki' });
    } catch {
      throw new CertifyRefused('csr_malformed', 'the CSR\'s public key cannot be read');
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new CertifyRefused('key_not_p256', `the CSR's key is ${key.asymmetricKeyType ?? 'unknown'} ${key.asymmetricKeyDetails?.namedCurve ?? ''}; Skein certifies ECDSA P-256 keys only`);
    }
    if (csr.sigAlg !== OID.ecdsaWithSha256) throw new CertifyRefused('csr_signature_invalid', 'the CSR must be signed with ECDSA and SHA-256');
    let ok: boolean;
    try { ok = verify('sha256', csr.cri, key, csr.signature); } catch { ok = false; }
    if (!ok) throw new CertifyRefused('csr_signature_invalid', 'the CSR is not signed by the key it carries');
    const dns = csr.names.filter((n) => n.type === 'dns').map((n) => n.value);
    if (csr.names.length !== dns.length || dns.length > 1) {
      throw new CertifyRefused('extra_names', `the CSR asks for ${csr.names.map((n) => `${n.type}:${n.value}`).join(', ')}; it may ask for exactly one DNS name, ${expectedIdentity}`);
    }
    if (dns[0] !== expectedIdentity) {
      throw new CertifyRefused('name_mismatch', `the CSR asks for "${dns[0] ?? '(no name)'}" but the token proves ${expectedIdentity}`);
    }
    if (csr.commonNames.some((v) => v !== expectedIdentity)) {
      throw new CertifyRefused('name_mismatch', `the CSR's subject CN "${csr.commonNames.join(',')}" is not ${expectedIdentity}`);
    }
    return { spki: Buffer.from(csr.spki) };
  });
}

interface IssuerParts { subject: Buffer; keyId: Buffer; key: KeyObject; notAfter: number }
const issuerParts = new WeakMap<object, IssuerParts>();

/** The issuer's name and key identifier, read once from its certificate. */
function partsOf(issuer: KeyedCertificate): IssuerParts {
  const cached = issuerParts.get(issuer.cert);
  if (cached) return cached;
  const der = Buffer.from(issuer.cert.rawData);
  const tbs = children(der, readTlv(der, 0))[0];
  if (!tbs) throw new DerError('issuer certificate has no body');
  const fields = children(der, tbs);
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[offset + 4];
  const extsWrapper = fields.find((f) => f.tag === 0xa3);
  let keyId: Buffer | undefined;
  for (const ext of extsWrapper ? children(der, children(der, extsWrapper)[0]!) : []) {
    const parts = children(der, ext);
    if (parts[0] && decodeOid(der.subarray(parts[0].contentStart, parts[0].end)) === OID.subjectKeyId) {
      const value = parts[parts.length - 1]!;
      const inner = readTlv(der, value.contentStart, value.end);
      keyId = der.subarray(inner.contentStart, inner.end);
    }
  }
  if (!subject || !keyId) throw new DerError('the issuer certificate needs a subject and a subjectKeyIdentifier');
  const parts = { subject: Buffer.from(der.subarray(subject.start, subject.end)), keyId: Buffer.from(keyId), key: KeyObject.from(issuer.keys.privateKey), notAfter: issuer.cert.notAfter.getTime() };
  issuerParts.set(issuer.cert, parts);
  return parts;
}

const ECDSA_SHA256 = seq(oid(OID.ecdsaWithSha256));
// Fixed extensions of every leaf: not a CA; digitalSignature; serverAuth and clientAuth.
const BASIC_CONSTRAINTS = seq(oid('2.5.29.19'), bool(true), octets(seq()));
const KEY_USAGE = seq(oid('2.5.29.15'), bool(true), octets(bitString(Buffer.from([0x80]), 7)));
const EXT_KEY_USAGE = seq(oid('2.5.29.37'), octets(seq(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2'))));

export interface Leaf { pem: string; notAfter: Date }

/** The leaf: DNS and SPIFFE names, client and server auth, never outliving the issuer. */
export function signLeaf(issuer: KeyedCertificate, csr: CheckedCsr, o: SignOptions): Promise<Leaf> {
  return Promise.resolve().then(() => {
    const p = partsOf(issuer);
    const now = Date.now();
    const notBefore = new Date(now - o.clockSkewMs);
    const notAfter = new Date(Math.min(now + o.lifetimeMs, p.notAfter));
    const serial = randomBytes(16);
    serial[0] = (serial[0] ?? 0) & 0x7f;
    const san = seq(oid(OID.subjectAltName), octets(seq(tlv(0x82, Buffer.from(o.identity, 'ascii')), tlv(0x86, Buffer.from(o.spiffeId, 'ascii')))));
    const aki = seq(oid('2.5.29.35'), octets(seq(tlv(0x80, p.keyId))));
    const tbs = seq(
      explicit(0, integer(Buffer.from([2]))),
      integer(serial),
      ECDSA_SHA256,
      p.subject,
      seq(time(notBefore), time(notAfter)),
      seq(set(seq(oid(OID.commonName), utf8(o.identity)))),
      csr.spki,
      explicit(3, seq(BASIC_CONSTRAINTS, KEY_USAGE, EXT_KEY_USAGE, aki, san)),
    );
    const signature = sign('sha256', tbs, p.key);
    const der = seq(tbs, ECDSA_SHA256, bitString(signature));
    const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
    return { pem: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`, notAfter };
  });
}
