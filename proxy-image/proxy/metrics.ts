// Golden metrics under the names Linkerd users already chart and alert on
// (linkerd-facts §7): request/response counts, latency to the response head,
// TCP opens, closes and bytes. Every label is bounded: no paths, no request
// ids, and authorities beyond a cap are folded into one value.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type Direction = 'inbound' | 'outbound';
export type TlsLabel = 'true' | 'no_identity' | 'false';

export interface TrafficLabels {
  direction: Direction;
  authority: string;
  targetAddr: string;
  tls: TlsLabel;
  /** Inbound: the mTLS client's identity. */
  clientId?: string;
  /** Outbound: the identity the server proved. */
  serverId?: string;
  /** The discovery endpoint's labels; `namespace`, `deployment` and `pod` become dst_*. */
  dst?: Readonly<Record<string, string>>;
}

export interface RequestMetrics {
  /** Once, when the response head is known (or the proxy answered itself, with `error`). */
  respond(status: number, opts?: { grpcStatus?: number; error?: string }): void;
}

export interface ConnectionMetrics {
  read(n: number): void;
  wrote(n: number): void;
  /** Idempotent. */
  close(): void;
}

// Linkerd's buckets plus sub-millisecond ones: a proxy hop on loopback is well under 1 ms.
export const LATENCY_BUCKETS_MS = [0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000];

/** Distinct authority values kept per direction; later ones are counted under OVERFLOW_AUTHORITY. */
export const MAX_AUTHORITIES = 500;
export const OVERFLOW_AUTHORITY = 'other';

const DST_LABELS = ['namespace', 'deployment', 'pod'] as const;
const TRAFFIC_LABEL_NAMES = ['direction', 'authority', 'target_addr', 'tls', 'client_id', 'server_id', ...DST_LABELS.map((k) => `dst_${k}`)];
const RESPONSE_LABEL_NAMES = [...TRAFFIC_LABEL_NAMES, 'status_code', 'classification', 'error'];

/** 5xx is a failure; so is a gRPC status other than OK (0), whatever the HTTP status. */
export function classify(status: number, grpcStatus?: number): 'success' | 'failure' {
  if (grpcStatus !== undefined) return grpcStatus === 0 ? 'success' : 'failure';
  return status >= 500 ? 'failure' : 'success';
}

/** Prometheus label values; absent optional labels are left out rather than written empty. */
export function trafficLabelValues(l: TrafficLabels): Record<string, string> {
  const out: Record<string, string> = { direction: l.direction, authority: l.authority, target_addr: l.targetAddr, tls: l.tls };
  if (l.clientId !== undefined) out.client_id = l.clientId;
  if (l.serverId !== undefined) out.server_id = l.serverId;
  for (const k of DST_LABELS) {
    const v = l.dst?.[k];
    if (v !== undefined) out[`dst_${k}`] = v;
  }
  return out;
}

interface OpenConnection { labels: Record<string, string>; read: number; wrote: number }

export class ProxyMetrics {
  readonly #requests: Counter;
  readonly #responses: Counter;
  readonly #latency: Histogram;
  readonly #tcpOpen: Counter;
  readonly #tcpClose: Counter;
  readonly #tcpRead: Counter;
  readonly #tcpWrite: Counter;
  readonly #tcpOpenNow: Gauge;
  readonly #refused: Record<Direction, Counter>;
  readonly #protocolErrors: Counter;
  readonly #now: () => number;
  readonly #authorities: Record<Direction, Set<string>> = { inbound: new Set(), outbound: new Set() };
  // Bytes are summed per connection and flushed at close or scrape: a labelled
  // counter update per socket chunk would cost more than the chunk's forwarding.
  readonly #open = new Set<OpenConnection>();

  constructor(registry: Registry, now: () => number = performance.now.bind(performance)) {
    this.#now = now;
    const registers = [registry];
    const flush = (): void => { for (const c of this.#open) this.#flushBytes(c); };
    this.#requests = new Counter({ name: 'request_total', help: 'HTTP requests, counted when the request head arrives', labelNames: TRAFFIC_LABEL_NAMES, registers });
    this.#responses = new Counter({ name: 'response_total', help: 'HTTP responses, counted when the response head is known', labelNames: RESPONSE_LABEL_NAMES, registers });
    this.#latency = new Histogram({
      name: 'response_latency_ms', help: 'Time from request head to response head, in milliseconds',
      labelNames: RESPONSE_LABEL_NAMES, buckets: LATENCY_BUCKETS_MS, registers,
    });
    this.#tcpOpen = new Counter({ name: 'tcp_open_total', help: 'TCP connections opened', labelNames: TRAFFIC_LABEL_NAMES, registers });
    this.#tcpClose = new Counter({ name: 'tcp_close_total', help: 'TCP connections closed', labelNames: TRAFFIC_LABEL_NAMES, registers });
    this.#tcpRead = new Counter({ name: 'tcp_read_bytes_total', help: 'Bytes read from peers', labelNames: TRAFFIC_LABEL_NAMES, registers, collect: flush });
    this.#tcpWrite = new Counter({ name: 'tcp_write_bytes_total', help: 'Bytes written to peers', labelNames: TRAFFIC_LABEL_NAMES, registers, collect: flush });
    this.#tcpOpenNow = new Gauge({ name: 'tcp_open_connections', help: 'TCP connections open now', labelNames: TRAFFIC_LABEL_NAMES, registers });
    this.#refused = {
      inbound: new Counter({ name: 'inbound_refused_total', help: 'Inbound connections or requests the proxy refused', labelNames: ['reason'], registers }),
      outbound: new Counter({ name: 'outbound_refused_total', help: 'Outbound connections or requests the proxy refused', labelNames: ['reason'], registers }),
    };
    this.#protocolErrors = new Counter({
      name: 'protocol_error_total', help: 'Connections closed because the peer broke the protocol', labelNames: ['direction', 'protocol'], registers,
    });
  }

  request(labels: TrafficLabels): RequestMetrics {
    const values = this.#labels(labels);
    const startedAt = this.#now();
    this.#requests.inc(values);
    let answered = false;
    return {
      respond: (status, opts = {}) => {
        if (answered) return;
        answered = true;
        const r: Record<string, string> = { ...values, status_code: String(status), classification: classify(status, opts.grpcStatus) };
        if (opts.error !== undefined) r.error = opts.error;
        this.#responses.inc(r);
        this.#latency.observe(r, Math.max(0, this.#now() - startedAt));
      },
    };
  }

  connection(labels: TrafficLabels): ConnectionMetrics {
    const c: OpenConnection = { labels: this.#labels(labels), read: 0, wrote: 0 };
    this.#open.add(c);
    this.#tcpOpen.inc(c.labels);
    this.#tcpOpenNow.inc(c.labels);
    return {
      read: (n) => { c.read += n; },
      wrote: (n) => { c.wrote += n; },
      close: () => {
        if (!this.#open.delete(c)) return;
        this.#flushBytes(c);
        this.#tcpClose.inc(c.labels);
        this.#tcpOpenNow.dec(c.labels);
      },
    };
  }

  /** `reason` must come from a fixed set (e.g. "unauthorized", "loop", "no_identity"), never from the peer. */
  refused(direction: Direction, reason: string): void {
    this.#refused[direction].inc({ reason });
  }

  /** `protocol` from a fixed set: "http1", "h2", "tls". */
  protocolError(direction: Direction, protocol: string): void {
    this.#protocolErrors.inc({ direction, protocol });
  }

  #labels(l: TrafficLabels): Record<string, string> {
    const values = trafficLabelValues(l);
    values.authority = this.#boundedAuthority(l.direction, l.authority);
    return values;
  }

  #boundedAuthority(direction: Direction, authority: string): string {
    const seen = this.#authorities[direction];
    if (seen.has(authority)) return authority;
    if (seen.size >= MAX_AUTHORITIES) return OVERFLOW_AUTHORITY;
    seen.add(authority);
    return authority;
  }

  #flushBytes(c: OpenConnection): void {
    if (c.read > 0) this.#tcpRead.inc(c.labels, c.read);
    if (c.wrote > 0) this.#tcpWrite.inc(c.labels, c.wrote);
    c.read = 0;
    c.wrote = 0;
  }
}
