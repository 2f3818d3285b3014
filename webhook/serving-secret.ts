// One serving certificate for every webhook replica, from Secret
// skein-webhook-serving. Every replica watches the Secret and serves its
// `current` generation; only the leader (Lease skein-webhook) writes it —
// creates it, rotates it (rotation.ts) — and publishes the caBundle after
// every change. Before this, each replica made its own CA at start and wrote
// it into the webhook configurations, so the last replica to start won and
// the API server failed TLS with every other one.
import { CoreV1Api, ApiException, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { Informer } from '../shared/informer.ts';
import type { Logger } from '../shared/log.ts';
import type { ServingCert } from './certs.ts';
import { advance, caBundle, fromSecretData, nextStep, toSecretData, type ServingState } from './rotation.ts';

export const SERVING_SECRET = 'skein-webhook-serving';

export interface SharedServingOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  secretName?: string;
  validityMs: number;
  /** A fresh generation: a CA and a leaf for the Service's names. */
  generate: () => Promise<ServingCert>;
  isLeader: () => boolean;
  /** Every replica: the certificate to serve from now on. */
  onServing: (cert: ServingCert) => void;
  /** Leader only: puts the bundle into every webhook configuration; resolves once it is there. */
  publish: (caBundlePem: string) => Promise<void>;
  log: Logger;
  now?: () => number;
  /** How often the leader looks whether a rotation is due (a cheap in-memory check). */
  checkEveryMs?: number;
}

export class SharedServingCert {
  readonly #o: SharedServingOptions & { secretName: string; now: () => number };
  readonly #informer: Informer<V1Secret>;
  readonly #core: CoreV1Api;
  #state: ServingState | undefined;
  /** The Secret's resourceVersion as last seen; '' while there is none. */
  #version = '';
  #serving = '';
  #published = '';
  #busy = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: SharedServingOptions) {
    this.#o = { secretName: SERVING_SECRET, now: Date.now, ...o };
    this.#core = o.kubeConfig.makeApiClient(CoreV1Api);
    this.#informer = new Informer<V1Secret>({
      kubeConfig: o.kubeConfig,
      path: `/api/v1/namespaces/${o.namespace}/secrets`,
      fieldSelector: `metadata.name=${this.#o.secretName}`,
      onEvent: (type, secret) => { this.#seen(type === 'deleted' ? undefined : secret); },
      onError: (err) => o.log.warn({ err }, `watch of Secret ${o.namespace}/${this.#o.secretName} failed; retrying`),
    });
  }

  /** Starts watching (and, while leading, keeping) the Secret. */
  start(): void {
    this.#informer.start();
    void this.#informer.synced.then(() => this.reconcile());
    this.#timer = setInterval(() => { void this.reconcile(); }, this.#o.checkEveryMs ?? 10_000);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#informer.stop();
  }

  /** A new leader publishes the bundle again, whatever the last one did. */
  leadershipGained(): void {
    this.#published = '';
    void this.reconcile();
  }

  #seen(secret: V1Secret | undefined): void {
    this.#version = secret?.metadata?.resourceVersion ?? '';
    try {
      this.#state = fromSecretData(secret?.data);
    } catch (err) {
      // The leader replaces it; until then every replica keeps what it serves.
      this.#o.log.error({ err }, `Secret ${this.#o.namespace}/${this.#o.secretName} cannot be served`);
      this.#state = undefined;
    }
    const current = this.#state?.current;
    if (current && current.cert !== this.#serving) {
      this.#serving = current.cert;
      this.#o.onServing(current);
    }
    void this.reconcile();
  }

  /** The leader's pass: create or rotate when due, then make sure the API server trusts every live CA. */
  async reconcile(): Promise<void> {
    if (this.#busy || !this.#o.isLeader()) return;
    this.#busy = true;
    try {
      let state = this.#state;
      const step = nextStep(state, this.#o.now(), this.#o.validityMs);
      if (step !== 'keep') {
        state = await advance(state, step, this.#o.generate);
        if (!state || !this.#o.isLeader()) return;
        if (!(await this.#write(state, step))) return;
      }
      if (!state) return;
      const bundle = caBundle(state, this.#o.now());
      if (bundle === this.#published) return;
      await this.#o.publish(bundle);
      this.#published = bundle;
    } catch (err) {
      this.#o.log.warn({ err }, 'could not keep the shared serving certificate; retrying');
    } finally {
      this.#busy = false;
    }
  }

  /** Writes `state` over the version last seen; false when another writer got there first (the watch brings theirs). */
  async #write(state: ServingState, step: string): Promise<boolean> {
    const { namespace, secretName: name } = this.#o;
    const body: V1Secret = {
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls',
      metadata: { name, namespace, labels: { 'skein.dev/control-plane-component': 'webhook' }, ...(this.#version ? { resourceVersion: this.#version } : {}) },
      data: toSecretData(state),
    };
    try {
      if (this.#version) await this.#core.replaceNamespacedSecret({ name, namespace, body });
      else await this.#core.createNamespacedSecret({ namespace, body });
    } catch (err) {
      if (err instanceof ApiException && (err.code === 409 || err.code === 404)) return false;
      throw err;
    }
    this.#o.log.info({ step }, `Secret ${namespace}/${name}: serving certificate ${step === 'create' ? 'created' : 'rotated'}`);
    return true;
  }
}
