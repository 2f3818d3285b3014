// The same stats asked of Prometheus (--prometheus URL). Assumes the usual
// kubernetes-pods scrape job that copies the pod's namespace and name into
// `namespace` and `pod` labels; the Deployment is derived from the pod name
// (<deployment>-<replicaset hash>-<suffix>) with label_replace, so no extra
// relabelling is needed (docs/prometheus.md has the scrape job). The series
// and their sides are those of views.ts.
import type { StatQuery } from './query.ts';
import { promDuration } from './query.ts';
import { DEFAULT_ROUTE } from './views.ts';

/** Which label of a query's result gives a row's namespace, name and (routes) authority. */
export interface RowLabels { namespace: string; name: string; authority?: string }

export interface PromQueries {
  requests: string;
  /** By `classification` as well: success and failure. */
  responses: string;
  latency: (quantile: number) => string;
  /** Selected series with a sample inside the window: when these exist but `requests` is empty, each has only one. */
  seriesInWindow: string;
  row: RowLabels;
}

const DEPLOYMENT_OF_POD = '^(.+)-[0-9a-z]{5,10}-[0-9a-z]{5}$';
const quote = (v: string) => JSON.stringify(v);
const regexQuote = (v: string) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function podMatcher(kind: 'deploy' | 'pod', name: string): string {
  return kind === 'pod' ? `pod=${quote(name)}` : `pod=~${quote(`${regexQuote(name)}-[0-9a-z]{5,10}-[0-9a-z]{5}`)}`;
}

/** Labels a row needs that the series may lack, filled in with label_replace: the Deployment, the default route. */
type Fill = 'deployment' | 'route';
interface Shape { matchers: string[]; groupBy: string[]; fill?: Fill; row: RowLabels }

// Without a ServiceProfile the proxy writes no route label; the pod proxy path calls those series DEFAULT_ROUTE too.
const routeMatcher = (name: string) => (name === DEFAULT_ROUTE ? `route=~${quote(`|${regexQuote(DEFAULT_ROUTE)}`)}` : `route=${quote(name)}`);

const FILLS: Record<Fill, (expr: string) => string> = {
  deployment: (expr) => `label_replace(${expr}, "deployment", "$1", "pod", ${quote(DEPLOYMENT_OF_POD)})`,
  route: (expr) => `label_replace(${expr}, "route", ${quote(DEFAULT_ROUTE)}, "route", "")`,
};

function shapeOf(q: StatQuery): Shape {
  const m: string[] = [];
  if (q.kind === 'route') {
    m.push('direction="outbound"');
    if (q.namespace !== undefined) m.push(`namespace=${quote(q.namespace)}`);
    if (q.from) m.push(podMatcher(q.from.kind, q.from.name));
    if (q.to) m.push(`dst_namespace=${quote(q.to.namespace)}`, `dst_${q.to.kind === 'pod' ? 'pod' : 'deployment'}=${quote(q.to.name)}`);
    if (q.name !== undefined) m.push(routeMatcher(q.name));
    return { matchers: m, groupBy: ['namespace', 'authority', 'route'], fill: 'route', row: { namespace: 'namespace', name: 'route', authority: 'authority' } };
  }
  const dstName = q.kind === 'pod' ? 'dst_pod' : 'dst_deployment';
  if (q.from) {
    m.push('direction="outbound"', `namespace=${quote(q.from.namespace)}`, podMatcher(q.from.kind, q.from.name));
    if (q.namespace !== undefined) m.push(`dst_namespace=${quote(q.namespace)}`);
    m.push(q.name !== undefined ? `${dstName}=${quote(q.name)}` : `${dstName}!=""`);
    return { matchers: m, groupBy: ['dst_namespace', dstName], row: { namespace: 'dst_namespace', name: dstName } };
  }
  m.push(q.to ? 'direction="outbound"' : 'direction="inbound"');
  if (q.namespace !== undefined) m.push(`namespace=${quote(q.namespace)}`);
  if (q.name !== undefined) m.push(podMatcher(q.kind, q.name));
  if (q.to) m.push(`dst_namespace=${quote(q.to.namespace)}`, `dst_${q.to.kind === 'pod' ? 'pod' : 'deployment'}=${quote(q.to.name)}`);
  const name = q.kind === 'pod' ? 'pod' : 'deployment';
  return { matchers: m, groupBy: ['namespace', name], ...(q.kind === 'deploy' ? { fill: 'deployment' as const } : {}), row: { namespace: 'namespace', name } };
}

export function promQueries(q: StatQuery): PromQueries {
  const s = shapeOf(q);
  const w = promDuration(q.windowSeconds);
  const rate = (metric: string, extra: string[] = []) => {
    const r = `rate(${metric}{${[...s.matchers, ...extra].join(', ')}}[${w}])`;
    return s.fill ? FILLS[s.fill](r) : r;
  };
  const by = (extra: string[] = []) => `by (${[...s.groupBy, ...extra].join(', ')})`;
  return {
    requests: `sum ${by()} (${rate('request_total')})`,
    responses: `sum ${by(['classification'])} (${rate('response_total')})`,
    latency: (quantile) => `histogram_quantile(${quantile}, sum ${by(['le'])} (${rate('response_latency_ms_bucket')}))`,
    seriesInWindow: `count(last_over_time(request_total{${s.matchers.join(', ')}}[${w}]))`,
    row: s.row,
  };
}
