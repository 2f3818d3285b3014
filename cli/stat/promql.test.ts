import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promQueries } from './promql.ts';
import type { StatQuery } from './query.ts';

const q = (over: Partial<StatQuery>): StatQuery => ({ kind: 'deploy', namespace: 'demo', windowSeconds: 30, ...over });
/** Rows by Deployment: the scrape job's `deployment` label where it is set, else derived from the pod name. */
const byDeployment = (metric: string, sel: string, fn = 'rate') =>
  `${fn}(${metric}{${sel}, deployment!=""}[30s]) or label_replace(${fn}(${metric}{${sel}, deployment=""}[30s]), "deployment", "$1", "pod", "^(.+)-[0-9a-z]{5,10}-[0-9a-z]{5}$")`;

test('deployments: inbound, grouped by the deployment label, or the one derived from the pod name where the scrape job sets none', () => {
  const p = promQueries(q({}));
  const sel = 'direction="inbound", namespace="demo"';
  assert.equal(p.requests, `sum by (namespace, deployment) (${byDeployment('request_total', sel)})`);
  assert.equal(p.responses, `sum by (namespace, deployment, classification) (label_replace(${byDeployment('response_total', sel)}, "classification", "failure", "status_code", "403"))`);
  assert.equal(p.latency(0.95), `histogram_quantile(0.95, sum by (namespace, deployment, le) (${byDeployment('response_latency_ms_bucket', sel)}))`);
  assert.deepEqual(p.row, { namespace: 'namespace', name: 'deployment' });
  assert.equal(p.seriesInWindow, `count(${byDeployment('request_total', sel, 'last_over_time')})`);
});

test('one deployment: its pods by the deployment label (a truncated pod name does not matter), else by pod name with regex characters escaped', () => {
  const r = promQueries(q({ name: 'web.v2' })).requests;
  assert.ok(r.includes('rate(request_total{direction="inbound", namespace="demo", deployment="web.v2"}[30s]) or '), r);
  assert.match(r, /deployment="", pod=~"web\\\\.v2-\[0-9a-z\]\{5,10\}-\[0-9a-z\]\{5\}"/);
});

test('pods: no label_replace, grouped by pod; -A drops the namespace matcher', () => {
  assert.equal(promQueries(q({ kind: 'pod', namespace: undefined })).requests, 'sum by (namespace, pod) (rate(request_total{direction="inbound"}[30s]))');
});

test('--to: the outbound side filtered by dst labels; --from: the caller\'s pods, grouped by dst', () => {
  assert.equal(promQueries(q({ to: { kind: 'deploy', name: 'web', namespace: 'shop' } })).requests,
    `sum by (namespace, deployment) (${byDeployment('request_total', 'direction="outbound", namespace="demo", dst_namespace="shop", dst_deployment="web"')})`);
  const from = promQueries(q({ from: { kind: 'deploy', name: 'client', namespace: 'demo' } }));
  const sel = 'direction="outbound", namespace="demo", dst_namespace="demo", dst_deployment!=""';
  assert.equal(from.requests,
    `sum by (dst_namespace, dst_deployment) (rate(request_total{${sel}, deployment="client"}[30s]) or rate(request_total{${sel}, deployment="", pod=~"client-[0-9a-z]{5,10}-[0-9a-z]{5}"}[30s]))`);
  assert.equal(promQueries(q({ from: { kind: 'pod', name: 'client-7d-x', namespace: 'demo' } })).requests,
    'sum by (dst_namespace, dst_deployment) (rate(request_total{direction="outbound", namespace="demo", pod="client-7d-x", dst_namespace="demo", dst_deployment!=""}[30s]))');
  assert.deepEqual(from.row, { namespace: 'dst_namespace', name: 'dst_deployment' });
});

test('routes: outbound, grouped by authority and route', () => {
  const p = promQueries(q({ kind: 'route', name: 'GET /books', windowSeconds: 60 }));
  assert.equal(p.requests,
    'sum by (namespace, authority, route) (label_replace(rate(request_total{direction="outbound", namespace="demo", route="GET /books"}[60s]), "route", "[default]", "route", ""))');
  assert.deepEqual(p.row, { namespace: 'namespace', name: 'route', authority: 'authority' });
});

test('routes: series without a route label (no ServiceProfile) are [default], as the pod proxy path names them, and selected by that name', () => {
  assert.match(promQueries(q({ kind: 'route' })).responses, /label_replace\(rate\(response_total\{direction="outbound", namespace="demo"\}\[30s\]\), "route", "\[default\]", "route", ""\)/);
  // A PromQL string holding the regex |\[default\]: the empty route or the literal name.
  assert.ok(promQueries(q({ kind: 'route', name: '[default]' })).requests.includes(String.raw`route=~"|\\[default\\]"`));
});
