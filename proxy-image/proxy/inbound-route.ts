// The inbound route layer (stack.ts): whether the pod's policy admits a
// client (its verified identity, or its address for plaintext) on the port it
// dialled, per request or, for opaque TCP, once per connection; refusals
// counted in inbound_refused_total by reason. What an admitted request
// carries to the app: the verified identity, never one a client claimed, and
// routing hints only from a meshed client.
import type { IncomingHttpHeaders } from 'node:http';
import { admitsEverything, authorizeConnection, authorizeRequest, defaultOnly, type Decision, type InboundPolicy } from './authz.ts';
import { hostPort } from './connection.ts';
import { ProxyError } from './errors.ts';
import { authorityOf, CLIENT_ID, ORIG_PROTO } from './headers.ts';
import type { ProxyMetrics, TrafficLabels } from './metrics.ts';
import { ROUTE_OVERRIDE } from './route-override.ts';

/** What the inbound proxy knows about an accepted connection. */
export interface InboundConnection {
  appPort: number;
  /** The verified peer identity; undefined for plaintext clients. */
  clientId: string | undefined;
  /** The client's address, for unauthenticated networks. */
  clientIp: string;
  h2: boolean;
}

const OPEN = defaultOnly('all-unauthenticated');

/** Never forwarded to the app from a meshed client: the proxy sets the verified identity itself. */
const FROM_MESHED_CLIENT: ReadonlySet<string> = new Set([CLIENT_ID, ORIG_PROTO]);
/** A plaintext client may not steer routing either (route-override.ts). */
const FROM_PLAINTEXT_CLIENT: ReadonlySet<string> = new Set([CLIENT_ID, ORIG_PROTO, ROUTE_OVERRIDE]);

/** Client headers the app never gets from this connection. */
export const droppedFrom = (ctx: InboundConnection): ReadonlySet<string> => (ctx.clientId ? FROM_MESHED_CLIENT : FROM_PLAINTEXT_CLIENT);

/** Headers for the app: the verified client identity. */
export function appHeaders(ctx: InboundConnection): Record<string, string> | undefined {
  return ctx.clientId ? { [CLIENT_ID]: ctx.clientId } : undefined;
}

export class InboundAuthorizer {
  readonly #policy: () => InboundPolicy;
  readonly #metrics: ProxyMetrics;

  /** `policy`: the pod's policy now (swapped as InboundUpdates arrive); absent: everything admitted. */
  constructor(metrics: ProxyMetrics, policy?: () => InboundPolicy) {
    this.#metrics = metrics;
    this.#policy = policy ?? (() => OPEN);
  }

  /** The refusal for this request, or undefined when admitted. */
  request(ctx: InboundConnection, req: { method?: string | undefined; url?: string | undefined }): ProxyError | undefined {
    const p = this.#policy();
    if (admitsEverything(p)) return undefined;
    const d = authorizeRequest(p, ctx.appPort, { identity: ctx.clientId, ip: ctx.clientIp }, req.method ?? 'GET', req.url ?? '/');
    return d.allowed ? undefined : this.#refused(d);
  }

  /** Opaque TCP: admitted or not, decided once for the connection. */
  connection(ctx: InboundConnection): boolean {
    const p = this.#policy();
    if (admitsEverything(p)) return true;
    const d = authorizeConnection(p, ctx.appPort, { identity: ctx.clientId, ip: ctx.clientIp });
    if (!d.allowed) this.#refused(d);
    return d.allowed;
  }

  #refused(d: Exclude<Decision, { allowed: true }>): ProxyError {
    this.#metrics.refused('inbound', `unauthorized_${d.reason}`);
    return new ProxyError('unauthorized', `${d.reason.replaceAll('_', ' ')} (policy ${d.policy})`);
  }
}

/** The traffic labels of an inbound request. Plaintext clients are tls="false", as in the TCP metrics of the same connection. */
export function inboundLabels(req: { headers: IncomingHttpHeaders }, ctx: InboundConnection, appHost: string): TrafficLabels {
  const target = hostPort(appHost, ctx.appPort);
  return {
    direction: 'inbound', authority: authorityOf(req.headers) ?? target, targetAddr: target,
    tls: ctx.clientId ? 'true' : 'false',
    ...(ctx.clientId ? { clientId: ctx.clientId } : {}),
  };
}
