import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Endpoint, V1EndpointSlice, V1Pod, V1Service } from '@kubernetes/client-node';
import { ClusterCache } from './cache.ts';
import { resolve, chooseAddresses, workloadLabels, isMeshed, NOTHING } from './resolve.ts';
import { parseTarget } from './target.ts';

const cfg = { trustDomain: 'cluster.local' };
const ID = (sa: string, ns: string) => `${sa}.${ns}.serviceaccount.identity.skein-system.cluster.local`;

function service(name: string, o: { ip?: string; ports?: { name?: string; port: number; protocol?: string }[]; annotations?: Record<string, string>; type?: string } = {}): V1Service {
  return {
    metadata: { name, namespace: 'shop', ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: { clusterIP: o.ip ?? '10.96.0.10', ports: o.ports ?? [{ name: 'http', port: 80 }], ...(o.type ? { type: o.type } : {}) },
  };
}

type Ep = V1Endpoint;
function slice(name: string, svc: string, ports: { name?: string; port: number; protocol?: string }[], endpoints: Ep[], addressType = 'IPv4'): V1EndpointSlice {
  return { metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': svc } }, addressType, ports, endpoints };
}
const ep = (ip: string, pod: string | undefined, conditions: Ep['conditions'] = { ready: true }): Ep =>
  ({ addresses: [ip], conditions, ...(pod ? { targetRef: { kind: 'Pod', name: pod, namespace: 'shop' } } : {}) });

function pod(name: string, ip: string, o: { meshed?: boolean; native?: boolean; sa?: string; annotations?: Record<string, string>; owner?: { kind: string; name: string }; hash?: string; phase?: string } = {}): V1Pod {
  const proxy = { name: 'skein-proxy', image: 'skein.dev/proxy:v0.1.0' };
  return {
    metadata: {
      name, namespace: 'shop',
      annotations: { ...(o.meshed ? { 'skein.dev/injection': 'injected' } : {}), ...o.annotations },
      ...(o.hash ? { labels: { 'pod-template-hash': o.hash } } : {}),
      ...(o.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: o.owner.kind, name: o.owner.name, uid: 'u', controller: true }] } : {}),
    },
    spec: {
      ...(o.sa ? { serviceAccountName: o.sa } : {}),
      containers: [{ name: 'app', image: 'app' }, ...(o.meshed && !o.native ? [proxy] : [])],
      ...(o.meshed && o.native ? { initContainers: [{ ...proxy, restartPolicy: 'Always' }] } : {}),
    },
    status: { phase: o.phase ?? 'Running', podIP: ip, podIPs: [{ ip }] },
  };
}

function cluster(svcs: V1Service[], slices: V1EndpointSlice[], pods: V1Pod[]): ClusterCache {
  const c = new ClusterCache();
  for (const s of svcs) c.applyService('added', s);
  for (const s of slices) c.applySlice('added', s);
  for (const p of pods) c.applyPod('added', p);
  return c;
}
const at = (c: ClusterCache, target: string) => resolve(c, parseTarget(target, 'cluster.local')!, cfg);

test('a ClusterIP maps the service port to each slice\'s (named) target port, meshed endpoints carry their identity', () => {
  const c = cluster(
    [service('web', { ports: [{ name: 'http', port: 80 }, { name: 'admin', port: 9000 }] })],
    [slice('web-a', 'web', [{ name: 'http', port: 8080 }, { name: 'admin', port: 9090 }], [ep('10.0.0.2', 'web-1'), ep('10.0.0.1', 'web-2')])],
    [pod('web-1', '10.0.0.2', { meshed: true, sa: 'web', owner: { kind: 'ReplicaSet', name: 'web-5d8f9' }, hash: '5d8f9' }), pod('web-2', '10.0.0.1')],
  );
  const u = at(c, '10.96.0.10:80');
  assert.deepEqual(u.service, { name: 'web', namespace: 'shop', port: 80 });
  assert.equal(u.exists, true);
  assert.deepEqual(u.endpoints.map((e) => [e.ip, e.port, e.identity]), [['10.0.0.1', 8080, undefined], ['10.0.0.2', 8080, ID('web', 'shop')]]);
  assert.deepEqual(u.endpoints[1]?.labels, { namespace: 'shop', pod: 'web-1', serviceaccount: 'web', replicaset: 'web-5d8f9', deployment: 'web' });
  assert.deepEqual(at(c, '10.96.0.10:9000').endpoints.map((e) => e.port), [9090, 9090], 'the other service port maps to its own target port');
  assert.deepEqual(at(c, 'web.shop.svc.cluster.local:80'), u, 'the name resolves the same as the ClusterIP');
});

test('a port the Service does not expose, an unknown IP or name, and ExternalName are "nothing there"', () => {
  const c = cluster([service('web'), service('ext', { ip: '', type: 'ExternalName' })], [], []);
  assert.deepEqual(at(c, '10.96.0.10:81'), NOTHING);
  assert.deepEqual(at(c, '10.96.9.9:80'), NOTHING);
  assert.deepEqual(at(c, 'nope.shop.svc.cluster.local:80'), NOTHING);
  assert.deepEqual(at(c, 'ext.shop.svc.cluster.local:80'), NOTHING);
});

test('a Service with no ready endpoint exists with none (the proxy answers 503, not pass-through)', () => {
  const c = cluster([service('web')], [slice('web-a', 'web', [{ name: 'http', port: 8080 }], [ep('10.0.0.1', undefined, { ready: false })])], []);
  assert.deepEqual(at(c, '10.96.0.10:80'), { type: 'update', exists: true, service: { name: 'web', namespace: 'shop', port: 80 }, opaque: false, endpoints: [] });
});

test('endpoint choice follows kube-proxy: ready ones; else serving+terminating; nil ready means ready', () => {
  const ports = [{ name: 'http', port: 8080 }];
  const s = (eps: Ep[]) => [slice('a', 'web', ports, eps)];
  const ips = (eps: Ep[]) => chooseAddresses(s(eps), { name: 'http' }).map((a) => a.ip);
  assert.deepEqual(ips([ep('10.0.0.1', undefined, { ready: true }), ep('10.0.0.2', undefined, { ready: false, serving: true, terminating: true })]), ['10.0.0.1']);
  assert.deepEqual(ips([ep('10.0.0.1', undefined, { ready: false, serving: false, terminating: true }), ep('10.0.0.2', undefined, { ready: false, serving: true, terminating: true })]), ['10.0.0.2']);
  assert.deepEqual(ips([ep('10.0.0.3', undefined, {})]), ['10.0.0.3']);
  assert.deepEqual(ips([ep('10.0.0.4', undefined, { terminating: true })]), [], 'nil ready on a terminating endpoint is not ready');
  assert.deepEqual(ips([ep('10.0.0.5', undefined, { ready: false })]), []);
});

test('slices: duplicates across slices count once, FQDN slices and UDP ports are ignored, unnamed ports match unnamed', () => {
  const slices = [
    slice('a', 'web', [{ port: 8080 }], [ep('10.0.0.1', undefined)]),
    slice('b', 'web', [{ port: 8080 }], [ep('10.0.0.1', undefined), ep('10.0.0.2', undefined)]),
    slice('c', 'web', [{ port: 8080 }], [ep('db.example.com', undefined)], 'FQDN'),
    slice('d', 'web', [{ port: 53, protocol: 'UDP' }], [ep('10.0.0.9', undefined)]),
  ];
  assert.deepEqual(chooseAddresses(slices, { name: '' }).map((a) => `${a.ip}:${a.port}`), ['10.0.0.1:8080', '10.0.0.2:8080']);
});

test('a headless Service by name resolves to its endpoints, even on a port it does not list', () => {
  const c = cluster(
    [service('db', { ip: 'None', ports: [] })],
    [slice('db-a', 'db', [], [ep('10.0.0.7', 'db-0')])],
    [pod('db-0', '10.0.0.7', { meshed: true, owner: { kind: 'StatefulSet', name: 'db' } })],
  );
  const u = at(c, 'db.shop.svc.cluster.local:5432');
  assert.equal(u.exists, true);
  assert.deepEqual(u.endpoints.map((e) => [e.ip, e.port, e.identity, e.labels.statefulset]), [['10.0.0.7', 5432, ID('default', 'shop'), 'db']]);
});

test('a pod IP is that pod alone; finished and host-network pods are not found by IP', () => {
  const c = cluster([], [], [
    pod('solo', '10.0.0.5', { meshed: true, sa: 'solo', annotations: { 'config.skein.dev/opaque-ports': '5000-5010' } }),
    pod('done', '10.0.0.6', { phase: 'Succeeded' }),
  ]);
  const u = at(c, '10.0.0.5:5005');
  assert.deepEqual(u, { type: 'update', exists: true, opaque: true, endpoints: [{ ip: '10.0.0.5', port: 5005, identity: ID('solo', 'shop'), protocolHint: 'opaque', labels: { namespace: 'shop', pod: 'solo', serviceaccount: 'solo' } }] });
  assert.equal(at(c, '10.0.0.5:80').opaque, false);
  assert.deepEqual(at(c, '10.0.0.6:80'), NOTHING);
  const hostNet = pod('node-agent', '192.168.1.1');
  hostNet.spec!.hostNetwork = true;
  c.applyPod('added', hostNet);
  assert.deepEqual(at(c, '192.168.1.1:80'), NOTHING);
});

test('opaque ports: the Service\'s annotation (service port) makes the update opaque; a pod\'s (target port) marks its endpoint', () => {
  const c = cluster(
    [service('db', { ports: [{ name: 'sql', port: 3306 }], annotations: { 'config.skein.dev/opaque-ports': '3306' } }), service('mq', { ip: '10.96.0.11', ports: [{ name: 'amqp', port: 5672 }] })],
    [slice('db-a', 'db', [{ name: 'sql', port: 13306 }], [ep('10.0.0.1', 'db-1')]), slice('mq-a', 'mq', [{ name: 'amqp', port: 5672 }], [ep('10.0.0.2', 'mq-1'), ep('10.0.0.3', 'mq-2')])],
    [pod('db-1', '10.0.0.1'), pod('mq-1', '10.0.0.2', { annotations: { 'config.skein.dev/opaque-ports': '5672' } }), pod('mq-2', '10.0.0.3', { annotations: { 'config.skein.dev/opaque-ports': 'not-a-port' } })],
  );
  const db = at(c, '10.96.0.10:3306');
  assert.equal(db.opaque, true);
  assert.deepEqual(db.endpoints.map((e) => e.protocolHint), ['opaque']);
  const mq = at(c, '10.96.0.11:5672');
  assert.equal(mq.opaque, false);
  assert.deepEqual(mq.endpoints.map((e) => e.protocolHint), ['opaque', 'unknown'], 'an invalid annotation counts as none');
});

test('meshed means injected and running skein-proxy, as a native sidecar or a regular container', () => {
  assert.equal(isMeshed(pod('a', '1.1.1.1', { meshed: true })), true);
  assert.equal(isMeshed(pod('b', '1.1.1.1', { meshed: true, native: true })), true);
  const lost = pod('c', '1.1.1.1', { meshed: true });
  lost.spec!.containers = lost.spec!.containers.filter((x) => x.name !== 'skein-proxy');
  assert.equal(isMeshed(lost), false, 'annotated but the proxy is gone');
  const unannotated = pod('d', '1.1.1.1', { meshed: true });
  unannotated.metadata!.annotations = { 'skein.dev/injection': 'skipped' };
  assert.equal(isMeshed(unannotated), false);
});

test('workload labels: a ReplicaSet whose name does not end in the hash is not taken for a Deployment; bare pods have none', () => {
  assert.deepEqual(workloadLabels(pod('x', '1.1.1.1', { owner: { kind: 'ReplicaSet', name: 'hand-made' }, hash: 'abc' })), { namespace: 'shop', pod: 'x', serviceaccount: 'default', replicaset: 'hand-made' });
  assert.deepEqual(workloadLabels(pod('y', '1.1.1.1', { owner: { kind: 'DaemonSet', name: 'agent' } })).daemonset, 'agent');
  assert.deepEqual(Object.keys(workloadLabels(pod('z', '1.1.1.1'))), ['namespace', 'pod', 'serviceaccount']);
});

test('an endpoint whose pod is not cached yet is listed, unmeshed, without labels', () => {
  const c = cluster([service('web')], [slice('web-a', 'web', [{ name: 'http', port: 8080 }], [ep('10.0.0.1', 'later')])], []);
  assert.deepEqual(at(c, '10.96.0.10:80').endpoints, [{ ip: '10.0.0.1', port: 8080, protocolHint: 'unknown', labels: {} }]);
});
