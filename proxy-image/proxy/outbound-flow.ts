// What the outbound stack does with each unit of work once detection has
// named it (stack.ts wires the layers; this runs them in order): a request
// goes route → balance (with its attempts) → endpoint and is counted; an
// Upgrade and an opaque connection are balanced once and spliced; an
// address discovery does not know is passed through untouched.
import type { Socket } from 'node:net';
import type { Logger } from '../../shared/log.ts';
import { failed, type BalanceLayer, type Carrier } from './balance.ts';
import { countConnection, hostPort, recordOutcome, spliceTo } from './connection.ts';
import { dialPlain, type EndpointLayer } from './endpoint.ts';
import { ProxyError } from './errors.ts';
import { ALPN } from './mesh-tls.ts';
import type { ProxyMetrics } from './metrics.ts';
import type { OriginalDestination } from './original-dst.ts';
import { outboundLabels, type OutboundConnection, type OutboundRouter } from './route.ts';
import { sendError } from './h1/relay.ts';
import type { ServerExchange } from './h1/server.ts';
import { tunnel } from './h1/tunnel.ts';

export interface OutboundFlowParts {
  router: OutboundRouter;
  balance: BalanceLayer;
  endpoints: EndpointLayer;
  metrics: ProxyMetrics;
  log: Logger;
  idleMs: number;
  connectTimeoutMs: number;
}

export class OutboundFlow {
  readonly #p: OutboundFlowParts;

  constructor(p: OutboundFlowParts) {
    this.#p = p;
  }

  /** One HTTP request: the route decision, a balanced endpoint and its attempts, the outcome counted. */
  async request(ctx: OutboundConnection, c: Carrier): Promise<void> {
    const { router, balance, metrics, log } = this.#p;
    const r = await router.route(ctx.destination, c.req);
    if (r.answer) {
      const m = metrics.request(outboundLabels(c.req, ctx, undefined, r.routeLabel, r.dstService, r.gateway?.rule.spec.route));
      recordOutcome(m, r.answer instanceof ProxyError ? c.fail(r.answer) : c.respond(r.answer.redirect, { location: r.answer.location }));
      return;
    }
    const chosen = balance.choose(r.destination, r.balancer);
    const m = metrics.request(outboundLabels(c.req, ctx, chosen instanceof ProxyError ? undefined : chosen.endpoint, r.routeLabel, r.dstService, r.gateway?.rule.spec.route));
    const outcome = chosen instanceof ProxyError ? c.fail(chosen) : await balance.send(chosen, r, c);
    r.release();
    recordOutcome(m, outcome, r.route ? failed(r.route, outcome) : undefined);
    if (outcome.error && outcome.status !== 499) log.debug({ target: r.destination.target, code: outcome.error.code, err: outcome.error.message }, 'outbound request failed');
  }

  /** An Upgrade: balanced once, then its own connection (ALPN http/1.1 between proxies), a tunnel after the 101. */
  async upgrade(ctx: OutboundConnection, ex: ServerExchange): Promise<void> {
    const { balance, endpoints, metrics } = this.#p;
    const chosen = balance.choose(ctx.destination);
    const m = metrics.request(outboundLabels(ex, ctx, chosen instanceof ProxyError ? undefined : chosen.endpoint));
    if (chosen instanceof ProxyError) { recordOutcome(m, sendError(ex, chosen)); return; }
    const outcome = await tunnel(ex, async () => { const s = await endpoints.connect(chosen.endpoint, ALPN.http1); chosen.begin(); return s; }, { idleMs: this.#p.idleMs });
    chosen.done({ ok: outcome.error === undefined && outcome.status < 500 });
    recordOutcome(m, outcome);
  }

  /** Opaque TCP, balanced per connection. */
  async tcp(socket: Socket, ctx: OutboundConnection, unread?: Buffer): Promise<void> {
    const { balance, endpoints, metrics } = this.#p;
    const chosen = balance.choose(ctx.destination);
    if (chosen instanceof ProxyError) {
      metrics.refused('outbound', chosen.code === 'no_ready_endpoint' ? 'no_ready_endpoint' : 'no_endpoint');
      socket.destroy();
      return;
    }
    countConnection(metrics, socket, outboundLabels({ headers: {} }, ctx, chosen.endpoint));
    const ok = await spliceTo(socket, () => endpoints.connect(chosen.endpoint, ALPN.opaque), this.#p.idleMs, unread);
    chosen.done({ ok });
    if (!ok) this.#p.log.debug({ target: ctx.destination.target }, 'opaque connect failed');
  }

  /** A connection to an address discovery does not know: TCP to where it was going, untouched. */
  async passThrough(socket: Socket, original: OriginalDestination): Promise<void> {
    this.counted(socket, original);
    await spliceTo(socket, () => dialPlain(original.ip, original.port, this.#p.connectTimeoutMs), this.#p.idleMs);
  }

  /** Counts a plaintext connection from the app in the TCP metrics. */
  counted(socket: Socket, original: OriginalDestination): void {
    const target = hostPort(original.ip, original.port);
    countConnection(this.#p.metrics, socket, { direction: 'outbound', authority: target, targetAddr: target, tls: 'false' });
  }
}
