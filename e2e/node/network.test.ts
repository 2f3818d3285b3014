import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ipam, sandboxNames, splitRule } from './network.ts';

test('Ipam hands out the lowest free host address and reuses released ones', () => {
  const ipam = new Ipam('198.18.1.0/24');
  assert.equal(ipam.allocate(), '198.18.1.2');
  assert.equal(ipam.allocate(), '198.18.1.3');
  ipam.release('198.18.1.2');
  assert.equal(ipam.allocate(), '198.18.1.2');
  assert.throws(() => new Ipam('198.18.0.0/16'), /\/24 pod CIDRs only/);
});

test('Ipam lets a pod keep its address across node restarts, once', () => {
  const ipam = new Ipam('198.18.1.0/24');
  assert.equal(ipam.reserve('198.18.1.7'), true);
  assert.equal(ipam.reserve('198.18.1.7'), false, 'an address is held once');
  assert.equal(ipam.reserve('198.18.2.7'), false, 'another node\'s range is not ours');
  assert.equal(ipam.reserve('198.18.1.255'), false);
  assert.equal(ipam.allocate(), '198.18.1.2');
});

test('Ipam reports exhaustion instead of reusing an address', () => {
  const ipam = new Ipam('198.18.9.0/24');
  for (let i = 0; i < 253; i++) ipam.allocate();
  assert.throws(() => ipam.allocate(), /exhausted/);
});

test('sandbox names are stable per pod and fit an interface name', () => {
  const a = sandboxNames('0b9c5e2a-1111-4222-8333-444455556666');
  assert.deepEqual(a, sandboxNames('0b9c5e2a-1111-4222-8333-444455556666'));
  assert.notDeepEqual(a, sandboxNames('another-uid'));
  assert.ok(a.hostVeth.length + 1 <= 15, 'host veth and its peer (+p) fit IFNAMSIZ');
});

test('iptables-save rules split into arguments with quoted comments kept whole', () => {
  assert.deepEqual(
    splitRule('KUBE-FIREWALL ! -s 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -j DROP'),
    ['KUBE-FIREWALL', '!', '-s', '127.0.0.0/8', '-m', 'comment', '--comment', 'block incoming localnet connections', '-j', 'DROP'],
  );
});
