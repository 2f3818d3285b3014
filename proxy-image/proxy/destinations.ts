// What the outbound proxy knows about each destination (an ip:port the app
// dialled): one discovery watch per destination shared by every connection
// to it, the last good Update kept while discovery is away, and a balancer
// fed with the endpoints. A destination nobody used for a while is dropped.
// Traffic policy is compiled here, once per Update: the profile's routes and
// retry budget, and a TrafficSplit's backends (balancers kept per backend).
import type { Endpoint, Profile, Update } from '../../api/discovery-protocol.ts';
import type { Balancer } from './balancer.ts';
import { DEFAULT_RETRY_BUDGET, RetryBudget } from './retries.ts';
import { compileProfile, type CompiledProfile } from './routes.ts';
import { applySplit, compileSplitMatches, type Backend, type SplitPredicate } from './split.ts';
import { compileRouteTable, type CompiledRouteTable } from './gateway-routes.ts';

/** The part of shared/discovery-client.ts the proxy uses. */
export interface Discovery {
  watch(target: string, onUpdate: (u: Update) => void): () => void;
}

/** `service` names the balancer's Service (for its metrics): the destination's, or a split backend's. */
export type BalancerFactory = (service: string) => Balancer<Endpoint>;

export interface DestinationsOptions {
  discovery: Discovery;
  balancer: BalancerFactory;
  /** A destination with no connection for this long stops its watch. */
  idleMs: number;
}

export class Destination {
  readonly target: string;
  readonly balancer: Balancer<Endpoint>;
  readonly #newBalancer: BalancerFactory;
  #update: Update | undefined;
  #profileSource: Profile | undefined;
  /** The compiled ServiceProfile; undefined without one (then no route matching at all). */
  profile: CompiledProfile | undefined;
  /** Linkerd's default budget until a profile sets one; kept while the spec is unchanged. */
  budget: RetryBudget = new RetryBudget(DEFAULT_RETRY_BUDGET);
  /** A TrafficSplit's backends; empty when the Service is not split. */
  backends: Backend[] = [];
  /** Which requests the split applies to (HTTPRouteGroup matches); the rest stay on `balancer`. */
  splits: SplitPredicate = compileSplitMatches(undefined);
  /** Gateway API routes on the Service (for this proxy's namespace); when set they decide every HTTP request. */
  routes: CompiledRouteTable | undefined;
  #routesSource: Update['routes'];
  #routeBalancers = new Map<string, Balancer<Endpoint>>();
  /** The destination's Service as a `dst_service` label value. */
  service: string | undefined;
  #waiters: (() => void)[] = [];
  connections = 0;
  idleSince = Date.now();
  unwatch: () => void = () => {};

  constructor(target: string, newBalancer: BalancerFactory) {
    this.target = target;
    this.#newBalancer = newBalancer;
    this.balancer = newBalancer(target);
  }

  /** The latest Update; undefined until discovery first answered. */
  get update(): Update | undefined {
    return this.#update;
  }

  apply(u: Update): void {
    this.#update = u;
    this.balancer.update(u.endpoints);
    this.service = u.service ? `${u.service.name}.${u.service.namespace}:${u.service.port}` : undefined;
    if (u.profile !== this.#profileSource) {
      this.#profileSource = u.profile;
      this.profile = u.profile ? compileProfile(u.profile) : undefined;
      const spec = u.profile?.retryBudget ?? DEFAULT_RETRY_BUDGET;
      const was = this.budget.spec;
      if (spec.retryRatio !== was.retryRatio || spec.minRetriesPerSecond !== was.minRetriesPerSecond || spec.ttlMs !== was.ttlMs) this.budget = new RetryBudget(spec);
    }
    if (u.routes !== this.#routesSource) {
      this.#routesSource = u.routes;
      const compiled = u.routes ? compileRouteTable(u.routes, this.#routeBalancers, this.#newBalancer) : undefined;
      this.routes = compiled?.table;
      this.#routeBalancers = compiled?.balancers ?? new Map<string, Balancer<Endpoint>>();
    }
    this.backends = u.split ? applySplit(this.backends, u.split, this.#newBalancer) : [];
    this.splits = compileSplitMatches(u.split ? u.splitMatches : undefined);
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves true once an Update is in, false if none came within `timeoutMs`. */
  answered(timeoutMs: number): Promise<boolean> {
    if (this.#update) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => { clearTimeout(timer); resolve(true); };
      this.#waiters.push(done);
    });
  }
}

export class Destinations {
  readonly #o: DestinationsOptions;
  readonly #byTarget = new Map<string, Destination>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(o: DestinationsOptions) {
    this.#o = o;
    this.#sweeper = setInterval(() => this.sweep(Date.now()), Math.max(1000, o.idleMs / 2));
    this.#sweeper.unref();
  }

  get size(): number {
    return this.#byTarget.size;
  }

  /** Takes a reference on a destination for the life of one connection; call the returned release when it closes. */
  acquire(target: string): { destination: Destination; release: () => void } {
    let d = this.#byTarget.get(target);
    if (!d) {
      const created = new Destination(target, this.#o.balancer);
      created.unwatch = this.#o.discovery.watch(target, (u) => created.apply(u));
      this.#byTarget.set(target, created);
      d = created;
    }
    const destination = d;
    destination.connections++;
    let released = false;
    return {
      destination,
      release: () => {
        if (released) return;
        released = true;
        if (--destination.connections === 0) destination.idleSince = Date.now();
      },
    };
  }

  /** Drops destinations idle since before `now - idleMs`. */
  sweep(now: number): void {
    for (const [target, d] of this.#byTarget) {
      if (d.connections === 0 && now - d.idleSince >= this.#o.idleMs) {
        d.unwatch();
        this.#byTarget.delete(target);
      }
    }
  }

  close(): void {
    clearInterval(this.#sweeper);
    for (const d of this.#byTarget.values()) d.unwatch();
    this.#byTarget.clear();
  }
}
