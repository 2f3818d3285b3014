// What cluster DNS answers from: Services and EndpointSlices, watched with the
// shared informer and folded into a catalog (dns.ts) again only after a change.
import type { KubeConfig, V1Service, V1EndpointSlice } from '@kubernetes/client-node';
import { Informer } from '../../shared/informer.ts';
import { buildCatalog, type Catalog } from './dns.ts';

export class CatalogWatch {
  readonly #services: Informer<V1Service>;
  readonly #slices: Informer<V1EndpointSlice>;
  #catalog: Catalog | undefined;
  #dirty = true;
  #synced = false;

  constructor(kubeConfig: KubeConfig, onError: (what: string, err: unknown) => void) {
    const changed = () => { this.#dirty = true; };
    this.#services = new Informer<V1Service>({ kubeConfig, path: '/api/v1/services', onEvent: changed, onError: (err) => onError('services', err) });
    this.#slices = new Informer<V1EndpointSlice>({ kubeConfig, path: '/apis/discovery.k8s.io/v1/endpointslices', onEvent: changed, onError: (err) => onError('endpointslices', err) });
  }

  start(): void {
    this.#services.start();
    this.#slices.start();
    void Promise.all([this.#services.synced, this.#slices.synced]).then(() => { this.#synced = true; });
  }

  stop(): void {
    this.#services.stop();
    this.#slices.stop();
  }

  /** Undefined until both caches hold a first list: until then no name is known not to exist. */
  current(): Catalog | undefined {
    if (!this.#synced) return undefined;
    if (this.#dirty || !this.#catalog) {
      this.#dirty = false;
      this.#catalog = buildCatalog(this.#services.list(), this.#slices.list());
    }
    return this.#catalog;
  }
}
