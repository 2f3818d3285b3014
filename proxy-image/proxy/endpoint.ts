// The endpoint layer: how a proxy reaches one endpoint once the balancer has
// picked it. A meshed endpoint (discovery named its identity) is reached over
// mutual TLS to its pod's proxy, a plain one in plaintext; HTTP/1.1 over
// pooled keep-alive connections (h1/client.ts), HTTP/2 over one shared
// session (sessions.ts), upgrades and opaque TCP over a connection of their
// own; requests that node:http parsed (handed over from h1/) over a
// keep-alive http.Agent. The connection each protocol needs, made once per
// endpoint and reused.
import http from 'node:http';
import net, { type Socket } from 'node:net';
import type { ClientHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Endpoint } from '../../api/discovery-protocol.ts';
import { hostPort } from './connection.ts';
import { ProxyError } from './errors.ts';
import { H1Pool } from './h1/client.ts';
import { DEFAULT_H1_LIMITS } from './h1/codec.ts';
import type { H1Upstream } from './h1/relay.ts';
import { ALPN, type Alpn, type MeshTls } from './mesh-tls.ts';
import type { H1Target } from './relay.ts';
import { SessionPool } from './sessions.ts';

/**
 * How long an idle keep-alive connection is kept: below Node's default server
 * keep-alive (5 s), so a Node app (or an unmeshed Node endpoint) never closes
 * one just as a request leaves on it.
 */
export const H1_POOL_IDLE_MS = 4_000;

export interface EndpointLayerOptions {
  /** Absent: plaintext only (the inbound proxy's app). */
  tls?: MeshTls;
  connectTimeoutMs: number;
  idleMs: number;
  /** Where to dial an endpoint; the default is the endpoint itself. */
  dialAddress?: (e: Endpoint) => { host: string; port: number };
}

/** What one endpoint object needs, made on first use (discovery's objects live until the next update). */
interface Made {
  h1: H1Upstream;
  h2Key: string;
  dial: (alpn: Alpn) => Promise<Duplex>;
}

export class EndpointLayer {
  /** Keep-alive connections for node:http's requests to plaintext endpoints (relay.ts relayOverH1). */
  readonly agent: http.Agent;
  readonly #o: EndpointLayerOptions;
  readonly #h1: H1Pool;
  readonly #sessions: SessionPool;
  readonly #made = new WeakMap<Endpoint, Made>();

  constructor(o: EndpointLayerOptions) {
    this.#o = o;
    this.#h1 = new H1Pool({ idleMs: Math.min(H1_POOL_IDLE_MS, o.idleMs), limits: DEFAULT_H1_LIMITS });
    this.#sessions = new SessionPool({ idleMs: o.idleMs });
    this.agent = new http.Agent({ keepAlive: true, maxFreeSockets: 256, timeout: o.idleMs });
  }

  /** A plaintext endpoint for node:http's client, over the shared keep-alive agent. */
  plain(e: Endpoint): H1Target {
    return { agent: this.agent, ...(this.#o.dialAddress?.(e) ?? { host: e.ip, port: e.port }) };
  }

  /** The pooled HTTP/1.1 upstream for this endpoint. */
  h1(e: Endpoint): H1Upstream {
    return this.#of(e).h1;
  }

  /** The shared HTTP/2 session to this endpoint. */
  h2(e: Endpoint): Promise<ClientHttp2Session> {
    const m = this.#of(e);
    return this.#sessions.get(m.h2Key, () => m.dial(ALPN.http2));
  }

  /** A connection of its own (an upgrade, opaque TCP), announcing `alpn` to a meshed endpoint. */
  connect(e: Endpoint, alpn: Alpn): Promise<Duplex> {
    return this.#of(e).dial(alpn);
  }

  close(): void {
    this.#h1.close();
    this.#sessions.close();
    this.agent.destroy();
  }

  #of(e: Endpoint): Made {
    let m = this.#made.get(e);
    if (m) return m;
    const a = this.#o.dialAddress?.(e) ?? { host: e.ip, port: e.port };
    const identity = e.identity;
    const tls = this.#o.tls;
    const timeoutMs = this.#o.connectTimeoutMs;
    const meshed = identity !== undefined && identity !== '' && tls !== undefined;
    const key = meshed ? `mtls/${hostPort(a.host, a.port)}/${identity}` : `plain/${hostPort(a.host, a.port)}`;
    const dial = meshed
      ? (alpn: Alpn): Promise<Duplex> => tls.connect({ ...a, identity, alpn, timeoutMs })
      : (): Promise<Duplex> => dialPlain(a.host, a.port, timeoutMs);
    m = { h1: { pool: this.#h1, key, dial: () => dial(ALPN.http1) }, h2Key: key, dial };
    this.#made.set(e, m);
    return m;
  }
}

/** A plaintext TCP connection with a bounded connect time. */
export function dialPlain(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, allowHalfOpen: true, noDelay: true });
    const timer = setTimeout(() => { socket.destroy(); reject(new ProxyError('connect_timeout', `no connection to ${hostPort(host, port)} within ${timeoutMs} ms`)); }, timeoutMs);
    socket.once('connect', () => { clearTimeout(timer); resolve(socket); });
    // Stays attached: an error after connect (before the caller wires the socket) only destroys it.
    socket.on('error', (err) => { clearTimeout(timer); socket.destroy(); reject(err); });
  });
}
