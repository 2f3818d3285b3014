// The identity controller: reads its settings from the MeshIdentity (the one
// named `default` in production), watches the issuer Secret and trust-anchor
// ConfigMap the settings point at, keeps the MeshIdentity status, and
// publishes the anchors to every meshed namespace. Level-triggered: each
// change only schedules one reconcile, which compares what is with what
// should be and writes only the difference.
import { X509Certificate } from 'node:crypto';
import {
  CustomObjectsApi, KubernetesObjectApi, PatchStrategy, setHeaderOptions, ApiException,
  type KubeConfig, type KubernetesObject, type V1ConfigMap, type V1Namespace, type V1Pod,
} from '@kubernetes/client-node';
import { Informer } from '../../shared/informer.ts';
import type { Logger } from '../../shared/log.ts';
import { EventRecorder } from '../../shared/control-plane/kube.ts';
import type { KeyedCertificate } from '../../shared/tls.ts';
import { durationMs } from '../../api/duration.ts';
import { parseMeshIdentitySpec, type MeshIdentitySettings, type MeshIdentityStatusValue } from '../../api/crds/meshidentity.ts';
import { MESHED_LABEL, identityAudience } from '../../api/mesh-names.ts';
import { IssuerSource, splitPem } from './issuer.ts';
import { tokenReviewer, type IdentityMetrics } from './server.ts';
import type { CertifyDeps } from './certify.ts';
import { desiredStatus, statusChange, eventsBetween, type IdentityEvent } from './status.ts';
import { meshedNamespaces, staleNamespaces, trustRootsConfigMap, TRUST_ROOTS_FIELD_MANAGER, TRUST_ROOTS_KEY, MANAGED_BY_LABEL, MANAGED_BY } from './trust-roots.ts';

const GROUP = 'skein.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'meshidentities';
/** Events about cluster-scoped objects live in `default`, where `kubectl describe` looks for them. */
const EVENT_NAMESPACE = 'default';

interface MeshIdentityObject extends KubernetesObject { spec?: unknown; status?: MeshIdentityStatusValue }

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  meshIdentityName: string;
  /** The settings used until a valid MeshIdentity is seen (and kept if it never is). */
  fallback: MeshIdentitySettings;
  metrics: IdentityMetrics;
  log: Logger;
  /** Create the MeshIdentity when it does not exist at start: the fallback trust domain, every other field defaulted. */
  createIfMissing?: boolean;
  /** Limits the namespaces that get trust roots (tests use it to stay inside their own namespaces). */
  namespaceLabelSelector?: string;
  /** The least time between two status writes that only change the counts. */
  countsIntervalMs?: number;
  /** A full reconcile this often anyway: IssuerExpiringSoon depends on the clock. */
  resyncMs?: number;
  /** Called with each issuer put in use, e.g. to re-issue the service's own serving certificate. */
  onIssuer?: (issuer: KeyedCertificate) => void;
  /** Whether this replica may write (status, Events, trust roots); every replica signs. Always, when not given. */
  isLeader?: () => boolean;
  /** Where Events go; one of its own from kubeConfig when not given. */
  events?: EventRecorder;
}

const ref = (ns: string, name: string) => `${ns}/${name}`;

export class IdentityController {
  readonly #o: ControllerOptions;
  readonly #events: EventRecorder;
  readonly #custom: CustomObjectsApi;
  readonly #objects: KubernetesObjectApi;
  readonly #meshIdentity: Informer<MeshIdentityObject>;
  readonly #namespaces: Informer<V1Namespace>;
  readonly #meshedPods: Informer<V1Pod>;
  readonly #published: Informer<V1ConfigMap>;
  #settings: MeshIdentitySettings;
  #specProblems: string[] = [];
  #anchors: Informer<V1ConfigMap> | undefined;
  #anchorsRef = '';
  #source: IssuerSource | undefined;
  #issuerRef = '';
  #issuer: KeyedCertificate | undefined;
  #written: { uid: string; status: MeshIdentityStatusValue; at: number } | undefined;
  #baseline: { uid: string; issued: number; rejected: number; localIssued: number; localRejected: number } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;
  #running = Promise.resolve();
  #stopped = false;

  constructor(o: ControllerOptions) {
    this.#o = o;
    this.#settings = o.fallback;
    const kc = o.kubeConfig;
    this.#events = o.events ?? new EventRecorder(kc, 'identity', o.log);
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.#objects = KubernetesObjectApi.makeApiClient(kc);
    const onError = (what: string) => (err: unknown) => o.log.warn({ err }, `watching ${what} failed; retrying`);
    this.#meshIdentity = new Informer<MeshIdentityObject>({
      kubeConfig: kc, path: `/apis/${GROUP}/${VERSION}/${PLURAL}`, fieldSelector: `metadata.name=${o.meshIdentityName}`,
      onEvent: (type, mi) => this.#onMeshIdentity(type === 'deleted' ? undefined : mi),
      onError: onError(`MeshIdentity ${o.meshIdentityName} (is crds/meshidentities.skein.dev.yaml applied?)`),
    });
    this.#namespaces = new Informer<V1Namespace>({
      kubeConfig: kc, path: '/api/v1/namespaces', ...(o.namespaceLabelSelector ? { labelSelector: o.namespaceLabelSelector } : {}),
      onEvent: () => this.schedule(), onError: onError('namespaces'),
    });
    this.#meshedPods = new Informer<V1Pod>({ kubeConfig: kc, path: '/api/v1/pods', labelSelector: MESHED_LABEL, onEvent: () => this.schedule(), onError: onError('meshed pods') });
    this.#published = new Informer<V1ConfigMap>({
      kubeConfig: kc, path: '/api/v1/configmaps', labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}`, onEvent: () => this.schedule(), onError: onError('trust-roots ConfigMaps'),
    });
  }

  settings(): MeshIdentitySettings {
    return this.#settings;
  }

  /** The issuer certify signs with: the last good one, across Secret changes and settings changes. */
  issuer(): KeyedCertificate {
    if (!this.#issuer) throw new Error('no valid issuer has been loaded yet');
    return this.#issuer;
  }

  anchorsPem(): string {
    return this.#anchors?.list()[0]?.data?.[TRUST_ROOTS_KEY] ?? '';
  }

  /** Starts the watches; resolves when the first issuer and anchors have been read (valid or not). */
  async start(): Promise<void> {
    this.#meshIdentity.start();
    // Without the CRD the list never succeeds: go on with the fallback settings rather than wait forever.
    const seen = await Promise.race([this.#meshIdentity.synced.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 5_000).unref())]);
    if (seen && !this.#meshIdentity.list()[0] && this.#o.createIfMissing) await this.#createMeshIdentity();
    if (!seen) this.#o.log.warn(`MeshIdentity ${this.#o.meshIdentityName} cannot be listed; using the built-in settings until it can`);
    for (const i of [this.#namespaces, this.#meshedPods, this.#published]) i.start();
    await this.#wire();
    await Promise.all([this.#namespaces.synced, this.#meshedPods.synced, this.#published.synced]);
    this.#resync = setInterval(() => this.schedule(), this.#o.resyncMs ?? 30_000);
    this.schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#resync);
    for (const i of [this.#meshIdentity, this.#namespaces, this.#meshedPods, this.#published]) i.stop();
    this.#anchors?.stop();
    this.#source?.stop();
  }

  /** Asks for a reconcile soon; many asks in a burst make one. */
  schedule(delayMs = 100): void {
    if (this.#stopped || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.#running.then(() => this.#reconcile()).catch((err: unknown) => {
        this.#o.log.error({ err }, 'identity reconcile failed; retrying');
        this.schedule(2_000);
      });
    }, delayMs);
  }

  /** Resolves after every reconcile started so far has finished. */
  idle(): Promise<void> {
    return this.#running;
  }

  async #createMeshIdentity(): Promise<void> {
    try {
      await this.#custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'MeshIdentity', metadata: { name: this.#o.meshIdentityName }, spec: { trustDomain: this.#o.fallback.trustDomain } } });
      this.#o.log.info(`created MeshIdentity ${this.#o.meshIdentityName} with the default settings`);
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409)) this.#o.log.warn({ err }, `could not create MeshIdentity ${this.#o.meshIdentityName}`);
    }
  }

  #onMeshIdentity(mi: MeshIdentityObject | undefined): void {
    if (!mi) {
      this.#o.log.warn(`MeshIdentity ${this.#o.meshIdentityName} was deleted; keeping the last good settings (trust domain ${this.#settings.trustDomain})`);
      this.#written = undefined;
      return;
    }
    const parsed = parseMeshIdentitySpec(mi.spec);
    if (parsed.ok) {
      this.#specProblems = [];
      this.#settings = parsed.settings;
      void this.#wire().catch((err: unknown) => this.#o.log.error({ err }, 'could not follow the new settings'));
    } else {
      this.#specProblems = parsed.problems;
      this.#o.log.error({ problems: parsed.problems }, `MeshIdentity ${this.#o.meshIdentityName} is invalid; keeping the last good settings`);
    }
    this.schedule();
  }

  /** Follows the settings to the issuer Secret and anchor ConfigMap they name. */
  async #wire(): Promise<void> {
    if (this.#stopped) return;
    const s = this.#settings;
    const anchorsRef = ref(s.trustAnchors.namespace, s.trustAnchors.configMapName);
    if (anchorsRef !== this.#anchorsRef) {
      this.#anchorsRef = anchorsRef;
      this.#anchors?.stop();
      this.#anchors = new Informer<V1ConfigMap>({
        kubeConfig: this.#o.kubeConfig, path: `/api/v1/namespaces/${s.trustAnchors.namespace}/configmaps`, fieldSelector: `metadata.name=${s.trustAnchors.configMapName}`,
        onEvent: () => { void this.#source?.recheck(); this.schedule(); },
        onError: (err: unknown) => this.#o.log.warn({ err }, `cannot watch ConfigMap ${anchorsRef}`),
      });
      this.#anchors.start();
      await this.#anchors.synced;
    }
    const issuerRef = ref(s.issuer.namespace, s.issuer.secretName);
    if (issuerRef !== this.#issuerRef) {
      this.#issuerRef = issuerRef;
      this.#source?.stop();
      const source = new IssuerSource(this.#o.kubeConfig, s.issuer.namespace, s.issuer.secretName, () => this.anchorsPem(), {
        onLoaded: (issuer) => {
          if (this.#source !== source) return;
          this.#issuer = issuer;
          this.#o.metrics.issuerExpiry.set(issuer.cert.notAfter.getTime() / 1000);
          this.#o.log.info({ issuer: issuer.cert.subject, notAfter: issuer.cert.notAfter }, 'issuer loaded');
          this.#o.onIssuer?.(issuer);
          this.schedule();
        },
        onRejected: (err) => {
          this.#o.log.error({ reason: err.message }, `issuer in Secret ${issuerRef} refused; still signing with the previous issuer`);
          this.schedule();
        },
      });
      this.#source = source;
      await source.start();
    }
  }

  /** Certify results counted by this process, from its own metrics. */
  async #localCounts(): Promise<{ issued: number; rejected: number }> {
    const values = (await this.#o.metrics.certified.get()).values;
    const sum = (result: string) => values.filter((v) => v.labels.result === result).reduce((a, v) => a + v.value, 0);
    return { issued: sum('issued'), rejected: sum('refused') };
  }

  #leads(): boolean {
    return this.#o.isLeader?.() ?? true;
  }

  async #reconcile(): Promise<void> {
    if (this.#stopped || !this.#leads()) return;
    await this.#source?.settled();
    await this.#publishTrustRoots();
    const mi = this.#meshIdentity.list()[0];
    const uid = mi?.metadata?.uid;
    if (!mi || !uid) return;
    const local = await this.#localCounts();
    // Counts continue from what the status held when this process first saw the object.
    if (this.#baseline?.uid !== uid) {
      this.#baseline = { uid, issued: mi.status?.certificatesIssued ?? 0, rejected: mi.status?.certificatesRejected ?? 0, localIssued: local.issued, localRejected: local.rejected };
    }
    const b = this.#baseline;
    const current = this.#written?.uid === uid ? this.#written.status : mi.status;
    const anchors = this.#anchorCertificates();
    const source = this.#source;
    const next = desiredStatus(current, {
      ...(mi.metadata?.generation !== undefined ? { generation: mi.metadata.generation } : {}),
      specProblems: this.#specProblems,
      issuerRef: this.#issuerRef,
      ...(this.#issuer ? { active: new X509Certificate(Buffer.from(this.#issuer.cert.rawData)) } : {}),
      secret: source?.state() ?? { state: 'waiting' },
      ...anchors,
      issued: b.issued + local.issued - b.localIssued,
      rejected: b.rejected + local.rejected - b.localRejected,
      now: new Date(),
      expiringSoonMarginMs: durationMs(this.#settings.expiringSoonMargin),
    });
    const change = statusChange(current, next);
    if (change === 'none') return;
    const waitMs = (this.#written?.at ?? 0) + (this.#o.countsIntervalMs ?? 5_000) - Date.now();
    if (change === 'counts' && this.#written?.uid === uid && waitMs > 0) { this.schedule(waitMs); return; }
    // Asked again right before the write: a replica that lost its Lease meanwhile writes nothing.
    if (!this.#leads()) return;
    await this.#custom.patchClusterCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: PLURAL, name: this.#o.meshIdentityName, body: { status: next }, fieldManager: 'skein-identity' },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    this.#written = { uid, status: next, at: Date.now() };
    for (const e of eventsBetween(current, next)) await this.#event(mi, e);
  }

  #anchorCertificates(): { anchors: X509Certificate[]; anchorsProblem?: string } {
    const cm = this.#anchors?.list()[0];
    if (!cm) return { anchors: [], anchorsProblem: `ConfigMap ${this.#anchorsRef} does not exist; create it with operator/identity/bootstrap.ts` };
    const anchors: X509Certificate[] = [];
    for (const pem of splitPem(cm.data?.[TRUST_ROOTS_KEY] ?? '')) {
      try { anchors.push(new X509Certificate(pem)); } catch { /* reported below when nothing usable remains */ }
    }
    return anchors.length > 0 ? { anchors } : { anchors, anchorsProblem: `ConfigMap ${this.#anchorsRef} has no readable certificate under ${TRUST_ROOTS_KEY}` };
  }

  async #publishTrustRoots(): Promise<void> {
    const bundle = this.anchorsPem();
    // Never publish an empty bundle: proxies would trust nothing and fail every handshake.
    if (splitPem(bundle).length === 0) return;
    const wanted = meshedNamespaces(this.#namespaces.list(), this.#meshedPods.list());
    for (const ns of staleNamespaces(wanted, this.#published.list(), bundle)) {
      if (!this.#leads()) return;
      try {
        await this.#objects.patch(trustRootsConfigMap(ns, bundle), undefined, undefined, TRUST_ROOTS_FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
        this.#o.log.info({ namespace: ns }, 'trust roots published');
      } catch (err) {
        this.#o.log.warn({ namespace: ns, err }, 'could not publish the trust roots; retrying');
        this.schedule(5_000);
      }
    }
  }

  async #event(mi: MeshIdentityObject, e: IdentityEvent): Promise<void> {
    const name = mi.metadata?.name ?? this.#o.meshIdentityName;
    await this.#events.record({ apiVersion: `${GROUP}/${VERSION}`, kind: 'MeshIdentity', name, ...(mi.metadata?.uid ? { uid: mi.metadata.uid } : {}) }, EVENT_NAMESPACE, e);
  }
}

/** What certify needs, following the controller: its issuer and its current settings on every call. */
export function certifyDepsOf(controller: IdentityController, kc: KubeConfig): CertifyDeps {
  const settings = () => controller.settings();
  return {
    review: tokenReviewer(kc, () => identityAudience(settings().trustDomain)),
    issuer: () => controller.issuer(),
    get trustDomain() { return settings().trustDomain; },
    get audience() { return identityAudience(settings().trustDomain); },
    get lifetimeMs() { return durationMs(settings().leafLifetime); },
    get clockSkewMs() { return durationMs(settings().clockSkew); },
  };
}
