// The issuer the CA signs with: a kubernetes.io/tls Secret (tls.crt, tls.key,
// so cert-manager can own it), checked against the trust anchors and swapped
// in when the Secret changes — no restart, and a certify call in flight keeps
// the issuer it started with. A bad update is refused and the current issuer
// stays, with the reason reported.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import { caFromPem, type KeyedCertificate } from '../../shared/tls.ts';
import { Informer } from '../../shared/informer.ts';
import type { SecretState } from './status.ts';
import { SkeinError, messageOf } from '../../api/errors.ts';

export class IssuerInvalid extends SkeinError {
  readonly code = 'invalid_issuer';
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
    throw new IssuerInvalid(`the issuer key cannot be read as an ECDSA P-256 PKCS#8 key: ${messageOf(err)}`);
  }
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) throw new IssuerInvalid('tls.key is not the key of tls.crt');
  return keyed;
}

export interface IssuerEvents {
  onLoaded: (issuer: KeyedCertificate) => void;
  onRejected: (err: IssuerInvalid) => void;
}

/** Watches one Secret and keeps the last good issuer; `state()` says what the Secret itself holds. */
export class IssuerSource {
  #current: KeyedCertificate | undefined;
  #state: SecretState = { state: 'waiting' };
  readonly #informer: Informer<V1Secret>;
  readonly #anchors: () => string;
  readonly #events: IssuerEvents;
  #loading = Promise.resolve();

  constructor(kc: KubeConfig, namespace: string, name: string, anchors: () => string, events: IssuerEvents) {
    this.#anchors = anchors;
    this.#events = events;
    this.#informer = new Informer<V1Secret>({
      kubeConfig: kc,
      path: `/api/v1/namespaces/${namespace}/secrets`,
      fieldSelector: `metadata.name=${name}`,
      onEvent: (type, secret) => {
        // Deleted: keep signing with the last issuer; the status reports the Secret is gone.
        if (type === 'deleted') void this.#enqueue(() => { this.#state = { state: 'missing' }; });
        else void this.#enqueue(() => this.#load(secret));
      },
      onSync: (secrets) => { if (secrets.length === 0) void this.#enqueue(() => { this.#state = { state: 'missing' }; }); },
    });
  }

  #enqueue(step: () => void | Promise<void>): Promise<void> {
    this.#loading = this.#loading.then(step);
    return this.#loading;
  }

  async #load(secret: V1Secret): Promise<void> {
    const d = secret.data ?? {};
    const dec = (k: string) => Buffer.from(d[k] ?? '', 'base64').toString('utf8');
    try {
      this.#current = await loadIssuer(dec('tls.crt'), dec('tls.key'), this.#anchors());
      this.#state = { state: 'loaded' };
      this.#events.onLoaded(this.#current);
    } catch (err) {
      const invalid = err instanceof IssuerInvalid ? err : new IssuerInvalid(String(err));
      this.#state = { state: 'invalid', reason: invalid.message, ...certificateOf(dec('tls.crt')) };
      this.#events.onRejected(invalid);
    }
  }

  start(): Promise<void> {
    this.#informer.start();
    return this.#informer.synced.then(() => this.#loading);
  }

  stop(): void {
    this.#informer.stop();
  }

  /** Checks the Secret again (the anchors changed): an issuer no anchor signs is refused, a fixed one taken. */
  recheck(): Promise<void> {
    const secret = this.#informer.list()[0];
    return secret ? this.#enqueue(() => this.#load(secret)) : this.#loading;
  }

  /** Resolves once every change seen so far has been applied. */
  settled(): Promise<void> {
    return this.#loading;
  }

  state(): SecretState {
    return this.#state;
  }

  /** The issuer in use, if any; current() throws instead. */
  peek(): KeyedCertificate | undefined {
    return this.#current;
  }

  current(): KeyedCertificate {
    if (!this.#current) throw new IssuerInvalid('no valid issuer has been loaded yet');
    return this.#current;
  }
}

/** The Secret's certificate even when it is refused, so the status can name it. */
function certificateOf(pem: string): { cert?: X509Certificate } {
  const first = splitPem(pem)[0];
  try { return first ? { cert: new X509Certificate(first) } : {}; } catch { return {}; }
}
