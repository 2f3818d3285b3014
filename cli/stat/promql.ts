// The same stats asked of Prometheus (--prometheus URL). Assumes the usual
// kubernetes-pods scrape job that copies the pod's namespace and name into
// `namespace` and `pod` labels. A pod's Deployment is its `deployment` label
// when the job sets one (docs/prometheus.md's job does, from the owning
// ReplicaSet, which is right even when Kubernetes truncated the pod name);
// for series without it, it is derived from the pod name
// (<deployment>-<replicaset hash>-<suffix>) with label_replace, so a plain
// job works too. The series and their sides are those of views.ts.
import type { StatQuery } from './query.ts';
import { promDuration } from './query.ts';
import { DEFAULT_ROUTE } from './views.ts';
import { REFUSED_STATUS } from './aggregate.ts';

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

const derivedPodRegex = (deployment: string) => `${regexQuote(deployment)}-[0-9a-z]{5,10}-[0-9a-z]{5}`;

/** The calling (or, inbound, the answering) pods taken as a Deployment: one by name, or all of them grouped by Deployment. */
interface DeploymentSide { name?: string | undefined; grouped: boolean }

/** `defaultRoute`: series without a route label are named DEFAULT_ROUTE, as the pod proxy path names them. */
interface Shape { matchers: string[]; deployment?: DeploymentSide; groupBy: string[]; defaultRoute?: true; row: RowLabels }

// Without a ServiceProfile the proxy writes no route label; the pod proxy path calls those series DEFAULT_ROUTE too.
const routeMatcher = (name: string) => (name === DEFAULT_ROUTE ? `route=~${quote(`|${regexQuote(DEFAULT_ROUTE)}`)}` : `route=${quote(name)}`);

const withDefaultRoute = (expr: string) => `label_replace(${expr}, "route", ${quote(DEFAULT_ROUTE)}, "route", "")`;

/** A pod reference: a pod matcher, or the Deployment side that selects one Deployment's pods. */
function pods(kind: 'deploy' | 'pod', name: string, m: string[]): DeploymentSide | undefined {
  if (kind === 'pod') { m.push(`pod=${quote(name)}`); return undefined; }
  return { name, grouped: false };
}

function shapeOf(q: StatQuery): Shape {
  const m: string[] = [];
  if (q.kind === 'route') {
    m.push('direction="outbound"');
    if (q.namespace !== undefined) m.push(`namespace=${quote(q.namespace)}`);
    const deployment = q.from ? pods(q.from.kind, q.from.name, m) : undefined;
    if (q.to) m.push(`dst_namespace=${quote(q.to.namespace)}`, `dst_${q.to.kind === 'pod' ? 'pod' : 'deployment'}=${quote(q.to.name)}`);
    if (q.name !== undefined) m.push(routeMatcher(q.name));
    return { matchers: m, ...(deployment ? { deployment } : {}), groupBy: ['namespace', 'authority', 'route'], defaultRoute: true, row: { namespace: 'namespace', name: 'route', authority: 'authority' } };
  }
  const dstName = q.kind === 'pod' ? 'dst_pod' : 'dst_deployment';
  if (q.from) {
    m.push('direction="outbound"', `namespace=${quote(q.from.namespace)}`);
    const deployment = pods(q.from.kind, q.from.name, m);
    if (q.namespace !== undefined) m.push(`dst_namespace=${quote(q.namespace)}`);
    m.push(q.name !== undefined ? `${dstName}=${quote(q.name)}` : `${dstName}!=""`);
    return { matchers: m, ...(deployment ? { deployment } : {}), groupBy: ['dst_namespace', dstName], row: { namespace: 'dst_namespace', name: dstName } };
  }
  m.push(q.to ? 'direction="outbound"' : 'direction="inbound"');
  if (q.namespace !== undefined) m.push(`namespace=${quote(q.namespace)}`);
  if (q.kind === 'pod' && q.name !== undefined) m.push(`pod=${quote(q.name)}`);
  if (q.to) m.push(`dst_namespace=${quote(q.to.namespace)}`, `dst_${q.to.kind === 'pod' ? 'pod' : 'deployment'}=${quote(q.to.name)}`);
  const name = q.kind === 'pod' ? 'pod' : 'deployment';
  return { matchers: m, ...(q.kind === 'deploy' ? { deployment: { name: q.name, grouped: true } } : {}), groupBy: ['namespace', name], row: { namespace: 'namespace', name } };
}

/**
 * `series(matchers)` over the shape's selection. With a Deployment side, the
 * series that carry a `deployment` label are taken by it, the others by their
 * pod name (given a `deployment` label by label_replace when rows are
 * Deployments); the two sets never share a pod, so `or` keeps both whole.
 */
function selected(s: Shape, series: (matchers: string[]) => string): string {
  const d = s.deployment;
  if (!d) return series(s.matchers);
  const labelled = series([...s.matchers, d.name !== undefined ? `deployment=${quote(d.name)}` : 'deployment!=""']);
  const unlabelled = series([...s.matchers, 'deployment=""', ...(d.name !== undefined ? [`pod=~${quote(derivedPodRegex(d.name))}`] : [])]);
  const derived = d.grouped ? `label_replace(${unlabelled}, "deployment", "$1", "pod", ${quote(DEPLOYMENT_OF_POD)})` : unlabelled;
  return `${labelled} or ${derived}`;
}

export function promQueries(q: StatQuery): PromQueries {
  const s = shapeOf(q);
  const w = promDuration(q.windowSeconds);
  const rate = (metric: string, extra: string[] = []) => {
    const r = selected(s, (matchers) => `rate(${metric}{${[...matchers, ...extra].join(', ')}}[${w}])`);
    return s.defaultRoute ? withDefaultRoute(r) : r;
  };
  const by = (extra: string[] = []) => `by (${[...s.groupBy, ...extra].join(', ')})`;
  return {
    requests: `sum ${by()} (${rate('request_total')})`,
    // A policy's refusal (403) is a failure, as on the pod proxy path (aggregate.ts isFailedResponse).
    responses: `sum ${by(['classification'])} (label_replace(${rate('response_total')}, "classification", "failure", "status_code", ${quote(REFUSED_STATUS)}))`,
    latency: (quantile) => `histogram_quantile(${quantile}, sum ${by(['le'])} (${rate('response_latency_ms_bucket')}))`,
    seriesInWindow: `count(${selected(s, (matchers) => `last_over_time(request_total{${matchers.join(', ')}}[${w}])`)})`,
    row: s.row,
  };
}
