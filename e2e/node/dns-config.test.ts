import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { parseResolvConf, podResolverConfig, renderResolvConf, podHostsFile, type ClusterResolver } from './dns-config.ts';

const host = parseResolvConf('# host\nnameserver 10.255.255.53\nnameserver 10.0.0.2\nsearch corp.example\noptions timeout:2\n');
const cluster: ClusterResolver = { nameserver: '198.18.0.1', domain: 'cluster.local', host };
const pod = (spec: Partial<NonNullable<V1Pod['spec']>> = {}, name = 'web-1'): V1Pod => ({ metadata: { name, namespace: 'shop' }, spec: { containers: [], ...spec } });

test('the host resolv.conf is read as resolv.conf(5) says', () => {
  assert.deepEqual(host, { nameservers: ['10.255.255.53', '10.0.0.2'], searches: ['corp.example'], options: ['timeout:2'] });
});

test('ClusterFirst (the default): cluster DNS, the namespace search path before the host\'s, ndots:5', () => {
  assert.equal(renderResolvConf(podResolverConfig(pod(), cluster)),
    'nameserver 198.18.0.1\nsearch shop.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n');
  assert.deepEqual(podResolverConfig(pod({ dnsPolicy: 'ClusterFirstWithHostNet' }), cluster), podResolverConfig(pod(), cluster));
});

test('Default is the host\'s resolver; None is dnsConfig alone', () => {
  assert.deepEqual(podResolverConfig(pod({ dnsPolicy: 'Default' }), cluster), host);
  const none = podResolverConfig(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['192.0.2.53'], searches: ['a.example'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] } }), cluster);
  assert.equal(renderResolvConf(none), 'nameserver 192.0.2.53\nsearch a.example\noptions ndots:2 edns0\n');
});

test('dnsConfig is appended to the policy\'s config: options override by name, duplicates go, nameservers stop at three', () => {
  const cfg = podResolverConfig(pod({ dnsConfig: { nameservers: ['198.18.0.1', '192.0.2.1', '192.0.2.2', '192.0.2.3'], searches: ['cluster.local', 'x.example'], options: [{ name: 'ndots', value: '1' }] } }), cluster);
  assert.deepEqual(cfg.nameservers, ['198.18.0.1', '192.0.2.1', '192.0.2.2']);
  assert.deepEqual(cfg.searches, ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'x.example']);
  assert.deepEqual(cfg.options, ['ndots:1']);
});

test('the hosts file names the pod at its address, with its subdomain FQDN and host aliases', () => {
  const plain = podHostsFile(pod(), '198.18.1.4', 'cluster.local');
  assert.match(plain, /^127\.0\.0\.1\tlocalhost$/m);
  assert.match(plain, /^198\.18\.1\.4\tweb-1$/m);
  const rich = podHostsFile(pod({ hostname: 'db-0', subdomain: 'db', hostAliases: [{ ip: '192.0.2.9', hostnames: ['a.example', 'b.example'] }] }), '198.18.1.5', 'cluster.local');
  assert.match(rich, /^198\.18\.1\.5\tdb-0\.db\.shop\.svc\.cluster\.local\tdb-0$/m);
  assert.match(rich, /^192\.0\.2\.9\ta\.example\tb\.example$/m);
});
