import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Pod, V1Service } from '@kubernetes/client-node';
import type { Update } from '../../shared/discovery-protocol.ts';
import { ClusterCache } from './cache.ts';
import { DiscoveryHub } from './hub.ts';
import { parseTarget } from './target.ts';

const svc = (name: string, ip: string): V1Service => ({ metadata: { name, namespace: 'ns', resourceVersion: '1' }, spec: { clusterIP: ip, ports: [{ name: 'http', port: 80 }] } });
const slice = (svcName: string, ips: string[], rv = '1'): V1EndpointSlice => ({
  metadata: { name: `${svcName}-x`, namespace: 'ns', resourceVersion: rv, labels: { 'kubernetes.io/service-name': svcName } },
  addressType: 'IPv4', ports: [{ name: 'http', port: 8080 }],
  endpoints: ips.map((ip, i) => ({ addresses: [ip], conditions: { ready: true }, targetRef: { kind: 'Pod', name: `${svcName}-${i}`, namespace: 'ns' } })),
});
const pod = (name: string, ip: string, annotations: Record<string, string> = {}): V1Pod => ({
  metadata: { name, namespace: 'ns', annotations }, spec: { containers: [{ name: 'app' }, { name: 'skein-proxy' }] }, status: { phase: 'Running', podIP: ip },
});
const T = (s: string) => parseTarget(s, 'cluster.local')!;

function setup() {
  const cache = new ClusterCache();
  const hub = new DiscoveryHub(cache, { trustDomain: 'cluster.local' });
  const apply = {
    service: (t: 'added' | 'modified' | 'deleted', o: V1Service) => hub.changed(cache.applyService(t, o)),
    slice: (t: 'added' | 'modified' | 'deleted', o: V1EndpointSlice) => hub.changed(cache.applySlice(t, o)),
    pod: (t: 'added' | 'modified' | 'deleted', o: V1Pod) => hub.changed(cache.applyPod(t, o)),
  };
  return { cache, hub, apply };
}
const ips = (u: Update | undefined) => u?.endpoints.map((e) => e.ip);

test('a slice change pushes to the streams watching its Service only, and recomputes only that target', () => {
  const { hub, apply } = setup();
  apply.service('added', svc('a', '10.96.0.1'));
  apply.service('added', svc('b', '10.96.0.2'));
  const seenA: Update[] = [];
  const seenB: Update[] = [];
  hub.watch(T('10.96.0.1:80'), (u) => seenA.push(u));
  hub.watch(T('10.96.0.2:80'), (u) => seenB.push(u));
  assert.deepEqual([seenA.length, seenB.length], [1, 1], 'each stream starts with the current snapshot');
  const before = hub.resolutions;
  apply.slice('added', slice('a', ['10.0.0.1']));
  assert.equal(hub.resolutions - before, 1, 'one target recomputed, not all');
  assert.deepEqual(ips(seenA.at(-1)), ['10.0.0.1']);
  assert.equal(seenB.length, 1, 'b heard nothing');
});

test('identical consecutive snapshots are not sent again', () => {
  const { hub, apply } = setup();
  apply.service('added', svc('a', '10.96.0.1'));
  apply.slice('added', slice('a', ['10.0.0.1']));
  const seen: Update[] = [];
  hub.watch(T('10.96.0.1:80'), (u) => seen.push(u));
  apply.slice('modified', slice('a', ['10.0.0.1'], '2'));
  apply.service('modified', { ...svc('a', '10.96.0.1'), metadata: { name: 'a', namespace: 'ns', resourceVersion: '2', labels: { x: 'y' } } });
  assert.equal(seen.length, 1, 'a new resourceVersion with the same content sends nothing');
  apply.slice('modified', slice('a', ['10.0.0.1', '10.0.0.2'], '3'));
  assert.deepEqual(ips(seen.at(-1)), ['10.0.0.1', '10.0.0.2']);
});

test('a pod becoming meshed changes its endpoint\'s identity; a pod that is no endpoint changes nothing', () => {
  const { hub, apply } = setup();
  apply.service('added', svc('a', '10.96.0.1'));
  apply.slice('added', slice('a', ['10.0.0.1']));
  apply.pod('added', pod('a-0', '10.0.0.1'));
  const seen: Update[] = [];
  hub.watch(T('a.ns.svc.cluster.local:80'), (u) => seen.push(u));
  assert.equal(seen[0]?.endpoints[0]?.identity, undefined);
  const before = hub.resolutions;
  apply.pod('added', pod('unrelated', '10.0.0.9'));
  assert.equal(hub.resolutions, before, 'an unrelated pod triggers no resolution');
  apply.pod('modified', pod('a-0', '10.0.0.1', { 'skein.dev/injection': 'injected' }));
  assert.equal(seen.at(-1)?.endpoints[0]?.identity, 'default.ns.serviceaccount.identity.skein-system.cluster.local');
});

test('a target that was nothing becomes something when its Service appears, and nothing again when it goes', () => {
  const { hub, apply } = setup();
  const seen: Update[] = [];
  hub.watch(T('10.96.0.7:80'), (u) => seen.push(u));
  assert.equal(seen[0]?.exists, false);
  const s = svc('late', '10.96.0.7');
  apply.service('added', s);
  assert.equal(seen.at(-1)?.exists, true);
  apply.service('deleted', s);
  assert.equal(seen.at(-1)?.exists, false);
  assert.equal(seen.length, 3);
});

test('a pod IP target follows its pod; the IP moving to another pod is seen', () => {
  const { hub, apply } = setup();
  const seen: Update[] = [];
  hub.watch(T('10.0.0.5:8080'), (u) => seen.push(u));
  apply.pod('added', pod('p1', '10.0.0.5'));
  assert.equal(seen.at(-1)?.endpoints[0]?.labels.pod, 'p1');
  apply.pod('deleted', pod('p1', '10.0.0.5'));
  assert.equal(seen.at(-1)?.exists, false);
  apply.pod('added', pod('p2', '10.0.0.5'));
  assert.equal(seen.at(-1)?.endpoints[0]?.labels.pod, 'p2');
});

test('streams share one resolution; the last unsubscribe drops the target from the index', () => {
  const { hub, apply } = setup();
  apply.service('added', svc('a', '10.96.0.1'));
  const one: Update[] = [];
  const two: Update[] = [];
  const stop1 = hub.watch(T('10.96.0.1:80'), (u) => one.push(u));
  const stop2 = hub.watch(T('a.ns.svc.cluster.local:80'), (u) => two.push(u));
  const stop3 = hub.watch(T('10.96.0.1:80'), (u) => two.push(u));
  assert.equal(hub.targets, 2);
  stop1();
  apply.slice('added', slice('a', ['10.0.0.1']));
  assert.equal(one.length, 1, 'an unsubscribed listener hears nothing');
  assert.equal(two.length, 4, 'both remaining streams heard the change');
  stop2(); stop3();
  assert.equal(hub.targets, 0);
  const before = hub.resolutions;
  apply.slice('modified', slice('a', ['10.0.0.2'], '2'));
  assert.equal(hub.resolutions, before, 'nothing is resolved for targets nobody watches');
});
