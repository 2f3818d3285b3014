// Golden metrics under the names Linkerd users already chart and alert on
// (linkerd-facts §7): request/response counts, latency to the response head,
// TCP opens, closes and bytes. Every label is bounded: no paths, no request
// ids, and authorities beyond a cap are folded into one value.
import { Counter, Gauge, Histogram, type HistogramChild, type Registry } from '../../shared/prom-text.ts';

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
  /** The discovery endpoint's labels; the workload keys in DST_LABELS become dst_*, others are dropped. */
  dst?: Readonly<Record<string, string>>;
  /** Outbound: the Service the request went to (a TrafficSplit backend or an override), `name.ns.svc.<domain>:port`. */
  dstService?: string;
  /** The ServiceProfile route (bounded: the profile's route names, or DEFAULT_ROUTE), or the Gateway API rule's name. */
  route?: string;
  /** The Gateway API route whose rule matched: route_kind, route_namespace, route_name. */
  gatewayRoute?: { kind: string; namespace: string; name: string };
}

export interface RequestMetrics {
  /**
   * Once, when the response head is known (or the proxy answered itself, with `error`).
   * `failure` is the route's classification when it has response classes; else 5xx / grpc-status decide.
   */
  respond(status: number, opts?: { grpcStatus?: number; error?: string; failure?: boolean }): void;
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

// The workload keys discovery sends (operator/discovery/resolve.ts workloadLabels), as Linkerd's dst_* labels.
const DST_LABELS = ['namespace', 'deployment', 'statefulset', 'daemonset', 'replicaset', 'job', 'pod', 'serviceaccount'] as const;
const TRAFFIC_LABEL_NAMES = ['direction', 'authority', 'target_addr', 'tls', 'client_id', 'server_id', ...DST_LABELS.map((k) => `dst_${k}`), 'dst_service', 'route', 'route_kind', 'route_namespace', 'route_name'];
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
    if (v !== undefined && v !== '') out[`dst_${k}`] = v;
  }
  if (l.dstService !== undefined) out.dst_service = l.dstService;
  if (l.route !== undefined) out.route = l.route;
  if (l.gatewayRoute !== undefined) {
    out.route_kind = l.gatewayRoute.kind;
    out.route_namespace = l.gatewayRoute.namespace;
    out.route_name = l.gatewayRoute.name;
  }
  return out;
}

/** Everything counted for one set of traffic labels, summed here and added to the counters at scrape time. */
interface Series {
  readonly labels: Record<string, string>;
  requests: number;
  opens: number;
  closes: number;
  openNow: number;
  readBytes: number;
  wroteBytes: number;
  /** Once a connection used it, the open gauge reports it (0 included) for good. */
  tcp: boolean;
  readonly responses: Map<string, ResponseSeries>;
}

interface ResponseSeries { readonly labels: Record<string, string>; count: number; readonly latency: HistogramChild }

const SEPARATOR = '\u0000';

/** A cheap identity for a label set: one string, no object, on every request. */
function seriesKey(l: TrafficLabels, authority: string): string {
  let key = `${l.direction}${SEPARATOR}${authority}${SEPARATOR}${l.targetAddr}${SEPARATOR}${l.tls}${SEPARATOR}${l.clientId ?? ''}${SEPARATOR}${l.serverId ?? ''}`;
  if (l.dst) for (const k of DST_LABELS) key += SEPARATOR + (l.dst[k] ?? '');
  if (l.dstService !== undefined || l.route !== undefined) key += `${SEPARATOR}s${l.dstService ?? ''}${SEPARATOR}r${l.route ?? ''}`;
  if (l.gatewayRoute !== undefined) key += `${SEPARATOR}g${l.gatewayRoute.kind}/${l.gatewayRoute.namespace}/${l.gatewayRoute.name}`;
  return key;
}

export class ProxyMetrics {
  readonly #latency: Histogram;
  readonly #refused: Record<Direction, Counter>;
  readonly #protocolErrors: Counter;
  readonly #retries: Counter;
  readonly #ejections: Counter;
  readonly #mirrors: Counter;
  readonly #now: () => number;
  readonly #authorities: Record<Direction, Set<string>> = { inbound: new Set(), outbound: new Set() };
  // Counts are summed per label set in plain numbers and handed to the
  // counters when they collect: a labelled update builds a key from its labels,
  // which per request and per socket chunk would cost more than the
  // forwarding. The latency histogram is observed through the response
  // series' own child, found once per label set.
  readonly #series = new Map<string, Series>();

  constructor(registry: Registry, now: () => number = performance.now.bind(performance)) {
    this.#now = now;
    const registers = [registry];
    const counter = (name: string, help: string, labelNames: string[], delta: (s: Series, c: Counter) => void): Counter => {
      const c: Counter = new Counter({ name, help, labelNames, registers, collect: () => { for (const s of this.#series.values()) delta(s, c); } });
      return c;
    };
    const take = (s: Series, c: Counter, field: 'requests' | 'opens' | 'closes' | 'readBytes' | 'wroteBytes'): void => {
      if (s[field] > 0) c.inc(s.labels, s[field]);
      s[field] = 0;
    };
    counter('request_total', 'HTTP requests, counted when the request head arrives', TRAFFIC_LABEL_NAMES, (s, c) => take(s, c, 'requests'));
    counter('response_total', 'HTTP responses, counted when the response head is known', RESPONSE_LABEL_NAMES, (s, c) => {
      for (const r of s.responses.values()) {
        if (r.count > 0) c.inc(r.labels, r.count);
        r.count = 0;
      }
    });
    this.#latency = new Histogram({
      name: 'response_latency_ms', help: 'Time from request head to response head, in milliseconds',
      labelNames: RESPONSE_LABEL_NAMES, buckets: LATENCY_BUCKETS_MS, registers,
    });
    counter('tcp_open_total', 'TCP connections opened', TRAFFIC_LABEL_NAMES, (s, c) => take(s, c, 'opens'));
    counter('tcp_close_total', 'TCP connections closed', TRAFFIC_LABEL_NAMES, (s, c) => take(s, c, 'closes'));
    counter('tcp_read_bytes_total', 'Bytes read from peers', TRAFFIC_LABEL_NAMES, (s, c) => take(s, c, 'readBytes'));
    counter('tcp_write_bytes_total', 'Bytes written to peers', TRAFFIC_LABEL_NAMES, (s, c) => take(s, c, 'wroteBytes'));
    const openNow: Gauge = new Gauge({
      name: 'tcp_open_connections', help: 'TCP connections open now', labelNames: TRAFFIC_LABEL_NAMES, registers,
      collect: () => { for (const s of this.#series.values()) if (s.tcp) openNow.set(s.labels, s.openNow); },
    });
    this.#refused = {
      inbound: new Counter({ name: 'inbound_refused_total', help: 'Inbound connections or requests the proxy refused', labelNames: ['reason'], registers }),
      outbound: new Counter({ name: 'outbound_refused_total', help: 'Outbound connections or requests the proxy refused', labelNames: ['reason'], registers }),
    };
    this.#retries = new Counter({
      name: 'retry_total', help: 'Retry decisions: retried, or not because the budget or the attempts ran out', labelNames: ['dst_service', 'route', 'result'], registers,
    });
    this.#mirrors = new Counter({
      name: 'mirror_total', help: 'RequestMirror copies: answered, failed (no endpoint, error, timeout) or skipped (streamed body, percent)', labelNames: ['dst_service', 'result'], registers,
    });
    this.#ejections = new Counter({
      name: 'endpoint_ejections_total', help: 'Endpoints ejected by circuit breaking after consecutive failures', labelNames: ['dst_service', 'target_addr'], registers,
    });
    this.#protocolErrors = new Counter({
      name: 'protocol_error_total', help: 'Connections closed because the peer broke the protocol', labelNames: ['direction', 'protocol'], registers,
    });
  }

  request(labels: TrafficLabels): RequestMetrics {
    const series = this.#seriesFor(labels);
    const startedAt = this.#now();
    series.requests += 1;
    let answered = false;
    return {
      respond: (status, opts = {}) => {
        if (answered) return;
        answered = true;
        const classification = opts.failure === undefined ? classify(status, opts.grpcStatus) : opts.failure ? 'failure' : 'success';
        const key = `${status}${SEPARATOR}${classification}${SEPARATOR}${opts.error ?? ''}`;
        let r = series.responses.get(key);
        if (!r) {
          const values: Record<string, string> = { ...series.labels, status_code: String(status), classification };
          if (opts.error !== undefined) values.error = opts.error;
          r = { labels: values, count: 0, latency: this.#latency.child(values) };
          series.responses.set(key, r);
        }
        r.count += 1;
        r.latency.observe(Math.max(0, this.#now() - startedAt));
      },
    };
  }

  connection(labels: TrafficLabels): ConnectionMetrics {
    const series = this.#seriesFor(labels);
    series.tcp = true;
    series.opens += 1;
    series.openNow += 1;
    let open = true;
    return {
      read: (n) => { series.readBytes += n; },
      wrote: (n) => { series.wroteBytes += n; },
      close: () => {
        if (!open) return;
        open = false;
        series.closes += 1;
        series.openNow -= 1;
      },
    };
  }

  /** `reason` must come from a fixed set (e.g. "unauthorized", "loop", "no_identity"), never from the peer. */
  refused(direction: Direction, reason: string): void {
    this.#refused[direction].inc({ reason });
  }

  /** `result` from retries.ts RetryResult; `route` from the profile (bounded). */
  retry(dstService: string, route: string, result: string): void {
    this.#retries.inc({ dst_service: dstService, route, result });
  }

  /** A RequestMirror copy's fate; `service` is the mirror's backend (bounded: the routes' Services). */
  mirrored(service: string, result: string): void {
    this.#mirrors.inc({ dst_service: service, result });
  }

  ejected(dstService: string, targetAddr: string): void {
    this.#ejections.inc({ dst_service: dstService, target_addr: targetAddr });
  }

  /** `protocol` from a fixed set: "http1", "h2", "tls". */
  protocolError(direction: Direction, protocol: string): void {
    this.#protocolErrors.inc({ direction, protocol });
  }

  #seriesFor(l: TrafficLabels): Series {
    const authority = this.#boundedAuthority(l.direction, l.authority);
    const key = seriesKey(l, authority);
    let s = this.#series.get(key);
    if (!s) {
      s = { labels: { ...trafficLabelValues(l), authority }, requests: 0, opens: 0, closes: 0, openNow: 0, readBytes: 0, wroteBytes: 0, tcp: false, responses: new Map() };
      this.#series.set(key, s);
    }
    return s;
  }

  #boundedAuthority(direction: Direction, authority: string): string {
    const seen = this.#authorities[direction];
    if (seen.has(authority)) return authority;
    if (seen.size >= MAX_AUTHORITIES) return OVERFLOW_AUTHORITY;
    seen.add(authority);
    return authority;
  }
}
