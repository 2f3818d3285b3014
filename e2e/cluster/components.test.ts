import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandFor, CONTROL_PLANE, healthUrl, kubeProxyCommand, NETWORK, type Layout } from './components.ts';

const layout: Layout = {
  dir: '/tmp/c',
  binDir: '/bins',
  ports: { etcdClient: 1001, etcdPeer: 1002, apiserver: 1003, controllerManager: 1004, scheduler: 1005, localNode: 1006, kubeProxyHealth: 1007, kubeProxyMetrics: 1008 },
};

const flag = (args: string[], name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=').slice(1).join('=');

test('every control-plane component binds loopback only and runs from the binary directory', () => {
  for (const name of CONTROL_PLANE) {
    const cmd = commandFor(name, layout);
    assert.equal(cmd.bin, `/bins/${name}`);
    const urls = cmd.args.filter((a) => /(listen|bind|advertise-client)/.test(a));
    for (const u of urls) assert.match(u, /127\.0\.0\.1/, `${name}: ${u}`);
    assert.ok(cmd.args.some((a) => a.includes(layout.dir)), `${name} names its cluster directory, so leftovers can be found`);
  }
});

test('the API server can mint and review ServiceAccount tokens and call webhooks', () => {
  const args = commandFor('kube-apiserver', layout).args;
  assert.equal(flag(args, 'etcd-servers'), 'http://127.0.0.1:1001');
  assert.equal(flag(args, 'secure-port'), '1003');
  assert.equal(flag(args, 'service-account-signing-key-file'), '/tmp/c/pki/sa.key');
  assert.equal(flag(args, 'service-account-key-file'), '/tmp/c/pki/sa.pub');
  assert.ok(flag(args, 'service-account-issuer'));
  assert.equal(flag(args, 'authorization-mode'), 'Node,RBAC');
  assert.equal(flag(args, 'service-cluster-ip-range'), NETWORK.serviceCidr);
  assert.equal(args.some((a) => a.startsWith('--disable-admission-plugins')), false, 'admission webhooks stay on');
});

test('the controller manager signs tokens with the key the API server verifies', () => {
  const kcm = commandFor('kube-controller-manager', layout).args;
  assert.equal(flag(kcm, 'service-account-private-key-file'), '/tmp/c/pki/sa.key');
  assert.equal(flag(kcm, 'root-ca-file'), '/tmp/c/pki/ca.crt');
  assert.equal(flag(kcm, 'use-service-account-credentials'), 'true');
});

test('health URLs point at each component port', () => {
  assert.equal(healthUrl('etcd', layout.ports), 'http://127.0.0.1:1001/health');
  assert.equal(healthUrl('kube-apiserver', layout.ports), 'https://127.0.0.1:1003/readyz');
  assert.equal(healthUrl('kube-controller-manager', layout.ports), 'https://127.0.0.1:1004/healthz');
  assert.equal(healthUrl('kube-scheduler', layout.ports), 'https://127.0.0.1:1005/healthz');
});

test('the node program names its cluster directory and kube-proxy runs in iptables mode on loopback', () => {
  const node = commandFor('real-nodes', layout);
  assert.equal(node.bin, process.execPath);
  assert.ok(node.args.includes('--dir=/tmp/c'));
  const proxy = kubeProxyCommand(layout).args;
  assert.equal(flag(proxy, 'proxy-mode'), 'iptables');
  assert.equal(flag(proxy, 'healthz-bind-address'), '127.0.0.1:1007');
  assert.equal(flag(proxy, 'cluster-cidr'), NETWORK.podCidr);
});
