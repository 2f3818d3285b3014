// The issuer the CA signs with: a kubernetes.io/tls Secret (tls.crt, tls.key,
// so cert-manager can own it), checked against the trust anchors and swapped
// in when the Secret changes — no restart, and a certify call in flight keeps
// the issuer it started with. A bad update is refused and the current issuer
// stays, with the reason reported.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import { caFromPem, type KeyedCertificate } from '../../shared/tls.ts';
import { Informer } from '../../shared/informer.ts';

export class IssuerInvalid extends Error {
  readonly code = 'IssuerInvalid';
}

/** PEM blocks of a bundle (trust anchors may be several, during a rotation). */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** Checks an issuer against the anchors: a CA, in date, signed by one of them, its key matching. */
export async function loadIssuer(certPem: string, keyPem: string, anchorsPem: string, now = new Date()): Promise<KeyedCertificate> {
  const first = splitPem(certPem)[0];
  if (!first || !keyPem.includes('PRIVATE KEY')) throw new IssuerInvalid('the issuer Secret needs tls.crt (the issuer certificate) and tls.key (its private key)');
  const cert = new X509Certificate(first);
  if (!cert.ca) throw new IssuerInvalid(`issuer ${cert.subject} is not a CA certificate (basicConstraints CA:TRUE)`);
  if (new Date(cert.validTo) <= now) throw new IssuerInvalid(`issuer ${cert.subject} expired on ${cert.validTo}`);
  if (new Date(cert.validFrom) > now) throw new IssuerInvalid(`issuer ${cert.subject} is not valid before ${cert.validFrom}`);
  const anchors = splitPem(anchorsPem).map((p) => new X509Certificate(p));
  if (anchors.length === 0) throw new IssuerInvalid('no trust anchors to check the issuer against');
  if (!anchors.some((a) => cert.checkIssued(a) && cert.verify(a.publicKey))) {
    throw new IssuerInvalid(`issuer ${cert.subject} is not signed by any current trust anchor (${anchors.map((a) => a.subject).join('; ')})`);
  }
  let keyed: KeyedCertificate;
  try {
    keyed = await caFromPem({ certPem: first, keyPem });
  } catch (err) {
    throw new IssuerInvalid(`the issuer key cannot be read as an ECDSA P-256 PKCS#8 key: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) throw new IssuerInvalid('tls.key is not the key of tls.crt');
  return keyed;
}

export interface IssuerEvents {
  onLoaded: (issuer: KeyedCertificate) => void;
  onRejected: (err: IssuerInvalid) => void;
}

/** Watches one Secret and keeps the last good issuer. */
export class IssuerSource {
  #current: KeyedCertificate | undefined;
  readonly #informer: Informer<V1Secret>;
  #loading = Promise.resolve();

  constructor(kc: KubeConfig, namespace: string, name: string, anchors: () => string, events: IssuerEvents) {
    this.#informer = new Informer<V1Secret>({
      kubeConfig: kc,
      path: `/api/v1/namespaces/${namespace}/secrets`,
      fieldSelector: `metadata.name=${name}`,
      onEvent: (type, secret) => {
        if (type === 'deleted') return; // keep signing with the last issuer; the status reports the Secret is gone
        this.#loading = this.#loading.then(async () => {
          const d = secret.data ?? {};
          const dec = (k: string) => Buffer.from(d[k] ?? '', 'base64').toString('utf8');
          try {
            this.#current = await loadIssuer(dec('tls.crt'), dec('tls.key'), anchors());
            events.onLoaded(this.#current);
          } catch (err) {
            events.onRejected(err instanceof IssuerInvalid ? err : new IssuerInvalid(String(err)));
          }
        });
      },
    });
  }

  start(): Promise<void> {
    this.#informer.start();
    return this.#informer.synced.then(() => this.#loading);
  }

  stop(): void {
    this.#informer.stop();
  }

  current(): KeyedCertificate {
    if (!this.#current) throw new IssuerInvalid('no valid issuer has been loaded yet');
    return this.#current;
  }
}
