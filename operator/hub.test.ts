import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Pod, V1Service } from '@kubernetes/client-node';
import type { Update } from '../api/discovery-protocol.ts';
import { ClusterCache } from './discovery/cache.ts';
import { DiscoveryHub } from './hub.ts';
import { parseTarget } from './discovery/target.ts';

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

const policy = (name: string, spec: unknown, rv = '1') => ({ metadata: { name, namespace: 'ns', resourceVersion: rv, creationTimestamp: '2026-01-01T00:00:00Z' as unknown as Date }, spec });

/** Two streams on two targets, each collecting what it hears. */
function watchBoth(hub: DiscoveryHub, a: string, b: string): [Update[], Update[]] {
  const seen: [Update[], Update[]] = [[], []];
  hub.watch(T(a), (u) => seen[0].push(u));
  hub.watch(T(b), (u) => seen[1].push(u));
  return seen;
}

test('a ServiceProfile change re-pushes to its Service only; an invalid one takes the profile away', () => {
  const { hub, cache, apply } = setup();
  apply.service('added', svc('a', '10.96.0.1'));
  apply.service('added', svc('b', '10.96.0.2'));
  const [seenA, seenB] = watchBoth(hub, '10.96.0.1:80', '10.96.0.2:80');
  const before = hub.resolutions;
  hub.changed(cache.applyServiceProfile('added', policy('a.ns.svc.cluster.local', { routes: [{ name: 'r', condition: { method: 'GET' }, timeout: '2s' }] })));
  assert.equal(hub.resolutions - before, 1, 'only the target of Service a recomputed');
  assert.equal(seenA.at(-1)?.profile?.routes[0]?.timeoutMs, 2_000);
  assert.equal(seenB.length, 1);
  hub.changed(cache.applyServiceProfile('modified', policy('a.ns.svc.cluster.local', { routes: [{ name: 'r', condition: { pathRegex: '(' } }] }, '2')));
  assert.equal(seenA.at(-1)?.profile, undefined);
  assert.equal(seenA.length, 3);
});

test('a TrafficSplit and its backends\' endpoints re-push to the root Service only', () => {
  const { hub, cache, apply } = setup();
  apply.service('added', svc('root', '10.96.0.1'));
  apply.service('added', svc('other', '10.96.0.9'));
  const [seen, other] = watchBoth(hub, 'root.ns.svc.cluster.local:80', '10.96.0.9:80');
  hub.changed(cache.applyTrafficSplit('added', policy('split', { service: 'root', backends: [{ service: 'v1', weight: 1 }, { service: 'v2', weight: 3 }] })));
  assert.deepEqual(seen.at(-1)?.split?.map((b) => [b.service, b.weight, b.endpoints.length]), [['v1.ns.svc.cluster.local:80', 1, 0], ['v2.ns.svc.cluster.local:80', 3, 0]]);
  apply.service('added', svc('v2', '10.96.0.3'));
  apply.slice('added', slice('v2', ['10.0.0.7']));
  assert.deepEqual(seen.at(-1)?.split?.[1]?.endpoints.map((e) => e.ip), ['10.0.0.7'], 'a backend that appears is picked up');
  hub.changed(cache.applyTrafficSplit('deleted', policy('split', { service: 'root', backends: [] })));
  assert.equal(seen.at(-1)?.split, undefined);
  assert.equal(other.length, 1, 'the unrelated target heard nothing');
});

test('inbound: an AuthorizationPolicy in the pod\'s namespace re-pushes to that pod; another namespace\'s does not', () => {
  const { hub, cache, apply } = setup();
  apply.pod('added', { ...pod('p', '10.0.0.5'), metadata: { name: 'p', namespace: 'ns', labels: { app: 'a' } } });
  const seen: unknown[] = [];
  hub.watchInbound('ns', 'p', (u) => seen.push(u));
  assert.equal(seen.length, 1);
  const before = hub.resolutions;
  hub.changed(cache.applyAuthorizationPolicy('added', { ...policy('x', { target: { podSelector: {}, port: 8080 }, allow: { meshTLS: true } }), metadata: { name: 'x', namespace: 'elsewhere' } }));
  assert.equal(hub.resolutions, before);
  hub.changed(cache.applyAuthorizationPolicy('added', policy('mine', { target: { podSelector: { matchLabels: { app: 'a' } }, port: 8080 }, allow: { meshTLS: true } })));
  assert.equal(seen.length, 2);
  assert.deepEqual((seen.at(-1) as { ports: unknown }).ports, [{ port: 8080, authorizations: [{ policy: 'ns/mine', identities: [], identitySuffixes: [], anyMeshed: true, unauthenticatedNetworks: [] }] }]);
  hub.changed(cache.applyNamespace('added', { metadata: { name: 'ns', annotations: { 'config.skein.dev/default-inbound-policy': 'deny' } } }));
  assert.equal((seen.at(-1) as { defaultPolicy: string }).defaultPolicy, 'deny');
});
