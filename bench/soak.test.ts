import { test } from 'node:test';
import assert from 'node:assert/strict';
import { componentOf, failureCauses, parseMinutes } from './lib/soak-parts.ts';

test('--minutes: default 10, a positive number, anything else refused with what was given', () => {
  assert.equal(parseMinutes([]), 10);
  assert.equal(parseMinutes(['--minutes', '3']), 3);
  assert.equal(parseMinutes(['--minutes', '0.5']), 0.5);
  assert.throws(() => parseMinutes(['--minutes', 'ten']), /positive number of minutes, got "ten"/);
  assert.throws(() => parseMinutes(['--minutes']), /got ""/);
});

test('processes are told apart by command line, proxies only in the soak namespace', () => {
  const node = '/usr/bin/node /work/main/';
  assert.equal(componentOf(`${node}operator/skein-controller.ts identity`, '', 'soak'), 'skein-identity');
  assert.equal(componentOf(`${node}operator/skein-controller.ts controller`, '', 'soak'), 'skein-controller');
  assert.equal(componentOf('/usr/bin/node /opt/skein/skein-controller.mjs webhook', '', 'soak'), 'skein-webhook', 'the image\'s bundle on a real node');
  assert.equal(componentOf(`${node}proxy-image/proxy/main.ts`, 'A=1\0SKEIN_POD_NAMESPACE=soak\0', 'soak'), 'skein-proxy');
  assert.equal(componentOf(`${node}proxy-image/proxy/main.ts`, 'SKEIN_POD_NAMESPACE=soak-other\0', 'soak'), undefined, 'another namespace\'s proxy');
  assert.equal(componentOf('/cache/k8s/kube-apiserver --etcd-servers=x', '', 'soak'), 'kube-apiserver');
  assert.equal(componentOf(`${node}e2e/apps/echo.ts`, '', 'soak'), undefined);
});

test('the failure histogram: most frequent first, a dash for none', () => {
  assert.equal(failureCauses({ 'http_502/upstream_reset': 1, ECONNRESET: 3 }), 'ECONNRESET ×3, http_502/upstream_reset ×1');
  assert.equal(failureCauses({ UNAVAILABLE: 2 }, 'grpc '), 'grpc UNAVAILABLE ×2');
  assert.equal(failureCauses({}), '—');
});
