// Golden metrics per deployment, pod or route from two scrapes of each
// proxy's /metrics, `window` seconds apart. Which series count and under
// which row is the query's view (views.ts); this module only does the sums.
import type { Sample } from './promtext.ts';
import { counterDelta, histogramQuantile, ratePerSecond, successRate, type Bucket } from './quantile.ts';

export interface PodRef {
  namespace: string;
  name: string;
  /** The Deployment that owns the pod (through its ReplicaSet), if any. */
  deployment?: string | undefined;
}

export interface PodScrape {
  pod: PodRef;
  before: readonly Sample[];
  after: readonly Sample[];
}

export interface RowKey {
  namespace: string;
  name: string;
  /** Routes only: the authority (service) the route belongs to. */
  authority?: string;
}

/** Which series of which pod count, and for which row. */
export interface View {
  direction: 'inbound' | 'outbound';
  rowOf(pod: PodRef, labels: Readonly<Record<string, string>>): RowKey | undefined;
  /** The row a scraped pod shows even when it served nothing (its own workload), if any. */
  idleRowOf?(pod: PodRef): RowKey | undefined;
}

/**
 * The status a proxy answers a request its authorization policy refused
 * with (proxy-image/proxy/errors.ts `unauthorized`). The proxy classifies a
 * 403 as success, as 4xx go; stat counts it as a failure, so that a client
 * the policy denies does not read as 100 % healthy.
 */
export const REFUSED_STATUS = '403';

/** Whether a response_total series counts against the success rate. */
export const isFailedResponse = (labels: Readonly<Record<string, string>>): boolean =>
  labels.classification === 'failure' || labels.status_code === REFUSED_STATUS;

export interface StatRow extends RowKey {
  requests: number;
  /** Requests per second over the window. */
  rps: number;
  /** 0..1, undefined when nothing was answered. */
  successRate: number | undefined;
  /** Milliseconds; undefined when nothing was answered. */
  p50: number | undefined;
  p95: number | undefined;
  p99: number | undefined;
}

const seriesId = (s: Sample) => `${s.name}{${Object.keys(s.labels).sort().map((k) => `${k}=${s.labels[k]}`).join(',')}}`;

/** Each series' growth over the window: what rate() sees. */
export function deltas(before: readonly Sample[], after: readonly Sample[]): Sample[] {
  const earlier = new Map(before.map((s) => [seriesId(s), s.value]));
  return after.map((s) => ({ ...s, value: counterDelta(earlier.get(seriesId(s)), s.value) }));
}

const HTTP_SERIES = new Set(['request_total', 'response_total', 'response_latency_ms_bucket']);

interface Sums { key: RowKey; requests: number; success: number; failure: number; buckets: Map<number, number> }

const rowId = (k: RowKey) => `${k.namespace}/${k.name}/${k.authority ?? ''}`;

export function aggregate(scrapes: readonly PodScrape[], windowSeconds: number, view: View): StatRow[] {
  const sums = new Map<string, Sums>();
  const at = (key: RowKey): Sums => {
    const id = rowId(key);
    let s = sums.get(id);
    if (!s) { s = emptySums(key); sums.set(id, s); }
    return s;
  };
  for (const scrape of scrapes) {
    // A meshed workload nobody called in the window is a row at 0 rps, like one whose traffic stopped.
    const idle = view.idleRowOf?.(scrape.pod);
    if (idle) at(idle);
    for (const d of deltas(scrape.before, scrape.after)) {
      // Only the HTTP series the numbers come from make a row (as PromQL asks for no others): a TCP-only authority is no route.
      if (d.labels.direction !== view.direction || !HTTP_SERIES.has(d.name)) continue;
      const key = view.rowOf(scrape.pod, d.labels);
      if (!key) continue;
      const s = at(key);
      if (d.name === 'request_total') s.requests += d.value;
      else if (d.name === 'response_total' && isFailedResponse(d.labels)) s.failure += d.value;
      else if (d.name === 'response_total' && d.labels.classification === 'success') s.success += d.value;
      else if (d.name === 'response_latency_ms_bucket') {
        const le = d.labels.le === '+Inf' ? Infinity : Number(d.labels.le);
        s.buckets.set(le, (s.buckets.get(le) ?? 0) + d.value);
      }
    }
  }
  return [...sums.values()].map((s) => toRow(s, windowSeconds)).sort((a, b) => rowId(a).localeCompare(rowId(b)));
}

/**
 * Rows at 0 rps for the scraped pods' own workloads that have none in `rows`
 * (the Prometheus path, which sees only series that have had samples).
 */
export function withIdleRows<R extends StatRow>(rows: readonly R[], pods: readonly PodRef[], view: View): (R | StatRow)[] {
  const have = new Set(rows.map(rowId));
  const idle = new Map<string, StatRow>();
  for (const pod of pods) {
    const key = view.idleRowOf?.(pod);
    if (key && !have.has(rowId(key))) idle.set(rowId(key), toRow(emptySums(key), 1));
  }
  return [...rows, ...idle.values()].sort((a, b) => rowId(a).localeCompare(rowId(b)));
}

const emptySums = (key: RowKey): Sums => ({ key, requests: 0, success: 0, failure: 0, buckets: new Map() });

function toRow(s: Sums, windowSeconds: number): StatRow {
  const buckets: Bucket[] = [...s.buckets].map(([le, count]) => ({ le, count }));
  return {
    ...s.key,
    requests: s.requests,
    rps: ratePerSecond(s.requests, windowSeconds),
    successRate: successRate(s.success, s.failure),
    p50: histogramQuantile(0.5, buckets),
    p95: histogramQuantile(0.95, buckets),
    p99: histogramQuantile(0.99, buckets),
  };
}
