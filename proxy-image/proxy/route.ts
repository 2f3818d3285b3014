// The outbound route layer (stack.ts): what discovery says about the
// address a connection was going to, once per connection, and for each
// request a route decision: the destination it goes to (a `skein-route`
// override's, else the connection's), the profile's route (timeouts, retries,
// failure classes) and the balancer (a traffic split's backend drawn by
// weight, else the destination's own). The balance layer takes it from there.
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Endpoint, HeaderEdit, RouteRule } from '../../api/discovery-protocol.ts';
import type { Logger } from '../../shared/log.ts';
import type { Balancer } from './balancer.ts';
import { hostPort } from './connection.ts';
import type { Destination, Destinations } from './destinations.ts';
import { authorityOf } from './headers.ts';
import type { TrafficLabels } from './metrics.ts';
import type { OriginalDestination } from './original-dst.ts';
import { overrideTarget, parseRouteOverride, ROUTE_OVERRIDE } from './route-override.ts';
import { DEFAULT_ROUTE, matchRoute, type CompiledRoute } from './routes.ts';
import { drawBackend } from './split.ts';
import { ProxyError } from './errors.ts';
import { drawRouteBackend, editedPath, redirectLocation, withPath, type CompiledRule, type Matched } from './gateway-routes.ts';
import type { MirrorTarget } from './mirror.ts';
import { pathOf } from './routes.ts';

/** What routing reads of a request, whichever server parsed it. */
export interface RequestView { method?: string | undefined; url?: string | undefined; headers: IncomingHttpHeaders }

/** What the outbound proxy knows about an accepted, meshed connection. */
export interface OutboundConnection {
  destination: Destination;
  original: OriginalDestination;
  /** The client spoke HTTP/2 to us. */
  h2: boolean;
}

export interface RouteDecision {
  /** Where the request goes: the connection's destination, or the one `skein-route` named. */
  destination: Destination;
  /** The profile's route; undefined without a profile or when none matched. */
  route: CompiledRoute | undefined;
  /** The `route` label: the route's name, `[default]` when the profile matched none, absent without a profile. */
  routeLabel: string | undefined;
  balancer: Balancer<Endpoint>;
  /** The `dst_service` label, only where a split or override makes it differ from the authority. */
  dstService: string | undefined;
  /** Ends the request's hold on an override's destination. */
  release(): void;
  /** The Gateway API rule that matched, when the Service has routes: its route for the metrics' route_* labels. */
  gateway?: { rule: CompiledRule; matched: Matched } | undefined;
  /** The proxy answers itself: no rule matched (404), the drawn backend does not exist (500), or the rule redirects. */
  answer?: ProxyError | { redirect: number; location: string } | undefined;
  /** URLRewrite and RequestHeaderModifier, for the request sent upstream. */
  rewrite?: RequestRewrite | undefined;
  /** ResponseHeaderModifier, for the answer the client gets. */
  responseEdit?: HeaderEdit | undefined;
  /** RequestMirror copies to send once the body is known. */
  mirrors?: readonly MirrorTarget[] | undefined;
}

/** How the request sent upstream differs from the client's (relay.ts applies it). */
export interface RequestRewrite { edit?: HeaderEdit | undefined; url?: string | undefined; authority?: string | undefined }

export interface OutboundRouterOptions {
  destinations: Destinations;
  /** How long a new destination waits for discovery, asked per connection (compose.ts picks it by discovery's state). */
  firstUpdateWaitMs: () => number;
  /** Act on `skein-route` (route-override.ts says when not to). */
  honourOverride: boolean;
  /** For `skein-route` short names. */
  clusterDomain: string;
  random: () => number;
  log: Logger;
}

const noRelease = () => {};

export class OutboundRouter {
  readonly #o: OutboundRouterOptions;

  constructor(o: OutboundRouterOptions) {
    this.#o = o;
  }

  /**
   * The destination discovery knows at the connection's original address, held
   * until the socket closes; undefined when discovery does not know it or did
   * not answer in time, and the connection is to be passed through untouched.
   */
  async destination(socket: Socket, original: OriginalDestination): Promise<Destination | undefined> {
    const { destination, release } = this.#o.destinations.acquire(hostPort(original.ip, original.port));
    socket.once('close', release);
    const waitMs = this.#o.firstUpdateWaitMs();
    const known = await destination.answered(waitMs);
    if (!known && !socket.destroyed) this.#o.log.warn({ target: destination.target, waitMs }, 'no discovery answer in time; this connection is passed through un-meshed for its whole life');
    return known && destination.update?.exists ? destination : undefined;
  }

  /** The route decision for one request on a connection to `d`. */
  async route(d: Destination, req: RequestView): Promise<RouteDecision> {
    const override = this.#o.honourOverride && req.headers[ROUTE_OVERRIDE] !== undefined ? await this.#overridden(req, d) : undefined;
    const to = override?.destination ?? d;
    if (!override && d.routes) return this.#gatewayRoute(d, d.routes, req);
    const route = to.profile ? matchRoute(to.profile, req.method ?? 'GET', req.url ?? '/') : undefined;
    const { balancer, service } = this.#balancerFor(to, req);
    return {
      destination: to, route, routeLabel: to.profile ? route?.name ?? DEFAULT_ROUTE : undefined, balancer,
      dstService: to.backends.length > 0 || override ? service : undefined,
      release: override?.release ?? noRelease,
    };
  }

  /** The decision a Gateway API route makes: the first matching rule, a backend drawn by weight, the rule's filters. */
  #gatewayRoute(d: Destination, routes: NonNullable<Destination['routes']>, req: RequestView): RouteDecision {
    const url = req.url ?? '/';
    const matched = routes.match(req.method ?? 'GET', url, req.headers);
    const base = { destination: d, route: undefined, routeLabel: undefined, balancer: d.balancer, dstService: undefined, release: noRelease };
    if (!matched) return { ...base, answer: new ProxyError('no_route', `${req.method ?? 'GET'} ${pathOf(url)}`) };
    const { rule } = matched;
    const labelled = { ...base, route: rule.route, routeLabel: rule.label, gateway: { rule, matched } };
    if (rule.redirect) return { ...labelled, answer: { redirect: rule.redirect.statusCode, location: redirectLocation(rule.redirect, url, authorityOf(req.headers), matched.path) } };
    const b = drawRouteBackend(rule.spec.backends, this.#o.random);
    const balancer = b?.service === undefined ? undefined : routes.balancer(b.service);
    if (!b || !balancer) return { ...labelled, answer: new ProxyError('backend_not_found', b ? 'its backendRef names no existing Service port' : 'every backendRef has weight 0') };
    const rw = rule.rewrite;
    const rewrite: RequestRewrite | undefined = rule.requestEdit || rw ? {
      edit: rule.requestEdit,
      url: rw?.path ? withPath(url, editedPath(pathOf(url), rw.path, matched.path)) : undefined,
      authority: rw?.hostname,
    } : undefined;
    const mirrors = rule.mirrors.length === 0 ? undefined : rule.mirrors.flatMap((m) => (m.service === undefined ? [] : [{ service: m.service, balancer: routes.balancer(m.service), percent: m.percent }]));
    return { ...labelled, balancer, dstService: b.service, rewrite, responseEdit: rule.responseEdit, mirrors };
  }

  /** A split backend drawn by weight when the split applies to the request, else the destination's own balancer. */
  #balancerFor(d: Destination, req: RequestView): { balancer: Balancer<Endpoint>; service: string | undefined } {
    if (d.backends.length === 0 || !d.splits(req.method ?? 'GET', req.url ?? '/', req.headers)) return { balancer: d.balancer, service: d.service };
    const i = drawBackend(d.backends, this.#o.random);
    const b = i < 0 ? undefined : d.backends[i];
    return b ? { balancer: b.balancer, service: b.service } : { balancer: d.balancer, service: d.service };
  }

  /** The destination `skein-route` names for this request, when it names this one's Service; released when the request ends. */
  async #overridden(req: RequestView, d: Destination): Promise<{ destination: Destination; release: () => void } | undefined> {
    const parsed = parseRouteOverride(req.headers[ROUTE_OVERRIDE]);
    const target = parsed && overrideTarget(parsed, d.update, this.#o.clusterDomain);
    if (!target) return undefined;
    const acquired = this.#o.destinations.acquire(target);
    if (await acquired.destination.answered(this.#o.firstUpdateWaitMs()) && acquired.destination.update?.exists) return acquired;
    acquired.release();
    this.#o.log.debug({ target }, 'skein-route names a Service discovery does not know; ignored');
    return undefined;
  }
}

/** The traffic labels of an outbound request or connection. */
export function outboundLabels(req: RequestView, ctx: OutboundConnection, e: Endpoint | undefined, route?: string, dstService?: string, gatewayRoute?: RouteRule['route']): TrafficLabels {
  return {
    ...(route === undefined ? {} : { route }),
    ...(gatewayRoute === undefined ? {} : { gatewayRoute }),
    ...(dstService === undefined ? {} : { dstService }),
    direction: 'outbound',
    authority: authorityOf(req.headers) ?? hostPort(ctx.original.ip, ctx.original.port),
    targetAddr: e ? hostPort(e.ip, e.port) : hostPort(ctx.original.ip, ctx.original.port),
    tls: e?.identity ? 'true' : 'no_identity',
    ...(e?.identity ? { serverId: e.identity } : {}),
    ...(e ? { dst: e.labels } : {}),
  };
}
