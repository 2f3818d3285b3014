import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod, V1Container } from '@kubernetes/client-node';
import { availableParallelism, totalmem } from 'node:os';
import { privilegesOf, envFor, expand, fieldValue, shouldRestart, restartBackoffMs, resourceValue, serviceEnv, EnvError } from './podspec.ts';

const pod: V1Pod = {
  metadata: { name: 'web-1', namespace: 'shop', uid: 'u-1', labels: { app: 'web', tier: 'front' }, annotations: { 'a/b': 'c' } },
  spec: { nodeName: 'n1', serviceAccountName: 'web', containers: [] },
};
const facts = { podIP: '198.18.1.7', hostIP: '198.18.0.1' };
const none = () => undefined;

test('a root container gets the runtime default capabilities plus what it adds', () => {
  const p = privilegesOf(pod, { name: 'init', securityContext: { capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['KILL'] } } });
  assert.equal(p.uid, 0);
  assert.ok(p.bounding.includes('+net_admin'));
  assert.ok(p.bounding.includes('+chown'));
  assert.equal(p.bounding.includes('+kill'), false, 'dropped capabilities are gone');
  assert.equal(p.added, '+net_admin,+net_raw');
});

test('runAsUser of the container wins over the pod; drop ALL leaves only what is added', () => {
  const withPodUser: V1Pod = { ...pod, spec: { ...pod.spec!, securityContext: { runAsUser: 1000, runAsGroup: 1000 } } };
  const p = privilegesOf(withPodUser, { name: 'proxy', securityContext: { runAsUser: 2102, capabilities: { drop: ['ALL'] } } });
  assert.equal(p.uid, 2102);
  assert.equal(p.gid, 1000);
  assert.equal(p.bounding, '-all');
  assert.equal(p.added, '-');
});

test('downward API field paths resolve as the kubelet resolves them', () => {
  assert.equal(fieldValue(pod, { fieldPath: 'metadata.name' }, facts), 'web-1');
  assert.equal(fieldValue(pod, { fieldPath: 'status.podIP' }, facts), '198.18.1.7');
  assert.equal(fieldValue(pod, { fieldPath: 'spec.serviceAccountName' }, facts), 'web');
  assert.equal(fieldValue(pod, { fieldPath: "metadata.labels['tier']" }, facts), 'front');
  assert.equal(fieldValue(pod, { fieldPath: 'metadata.labels' }, facts), 'app="web"\ntier="front"');
  assert.equal(fieldValue(pod, { fieldPath: 'spec.nonsense' }, facts), undefined);
});

test('env: service links, envFrom, valueFrom and $(VAR) expansion in order', () => {
  const c: V1Container = {
    name: 'app',
    envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'CFG_' }],
    env: [
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'URL', value: 'http://$(POD_IP):8080/$(MISSING)/$$(POD_IP)' },
      { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'sec', key: 'pw' } } },
      { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
    ],
    resources: { limits: { memory: '64Mi' } },
  };
  const env = envFor(pod, c, {
    ...facts,
    services: [{ metadata: { name: 'books-api' }, spec: { clusterIP: '198.19.0.9', ports: [{ name: 'http', port: 80 }] } }],
    configMap: (n) => (n === 'cfg' ? { mode: 'fast' } : undefined),
    secret: (n) => (n === 'sec' ? { pw: 'hunter2' } : undefined),
  });
  assert.equal(env.BOOKS_API_SERVICE_HOST, '198.19.0.9');
  assert.equal(env.BOOKS_API_SERVICE_PORT_HTTP, '80');
  assert.equal(env.CFG_mode, 'fast');
  assert.equal(env.URL, 'http://198.18.1.7:8080/$(MISSING)/$(POD_IP)');
  assert.equal(env.PASSWORD, 'hunter2');
  assert.equal(env.MEM, '64');
});

test('a missing ConfigMap key stops the container with CreateContainerConfigError unless optional', () => {
  const c = (optional: boolean): V1Container => ({ name: 'x', env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'gone', key: 'k', optional } } }] });
  assert.throws(() => envFor(pod, c(false), { ...facts, services: [], configMap: none, secret: none }), (e: unknown) => e instanceof EnvError && /configmap "gone"/.test(e.message));
  assert.equal(envFor(pod, c(true), { ...facts, services: [], configMap: none, secret: none }).A, '');
});

test('expand leaves unknown references and unescapes $$', () => {
  assert.equal(expand('$(A)-$(B)-$$(A)', { A: '1' }), '1-$(B)-$(A)');
});

test('restart policy and back-off', () => {
  assert.equal(shouldRestart('Always', 0), true);
  assert.equal(shouldRestart('OnFailure', 0), false);
  assert.equal(shouldRestart('OnFailure', 1), true);
  assert.equal(shouldRestart('Never', 1), false);
  assert.deepEqual([1, 2, 3, 4, 10].map(restartBackoffMs), [1000, 2000, 4000, 8000, 30000]);
});

test('quantities', () => {
  assert.equal(resourceValue({ name: 'c', resources: { requests: { cpu: '250m' } } }, { resource: 'requests.cpu', divisor: '1m' }), '250');
  assert.equal(resourceValue({ name: 'c', resources: { limits: { memory: '256Mi' } } }, { resource: 'limits.memory' }), String(256 * 1024 * 1024));
  // As the API server returns it when the manifest gave no divisor.
  assert.equal(resourceValue({ name: 'c', resources: { limits: { memory: '256Mi' } } }, { resource: 'limits.memory', divisor: '0' }), String(256 * 1024 * 1024));
  // Unset limits read as the node's allocatable, as a kubelet answers; unset requests as 0.
  assert.equal(resourceValue({ name: 'c' }, { resource: 'limits.memory' }), String(totalmem()));
  assert.equal(resourceValue({ name: 'c' }, { resource: 'limits.cpu' }), String(availableParallelism()));
  assert.equal(resourceValue({ name: 'c' }, { resource: 'requests.memory' }), '0');
  assert.deepEqual(serviceEnv([{ metadata: { name: 'headless' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } }]), {});
});
