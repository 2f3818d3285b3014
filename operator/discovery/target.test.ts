import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTarget, targetKey, TargetError } from './target.ts';

test('targets: IPv4, bracketed IPv6 and Service names of this cluster domain', () => {
  assert.deepEqual(parseTarget('10.96.0.10:80', 'cluster.local'), { kind: 'ip', ip: '10.96.0.10', port: 80 });
  assert.deepEqual(parseTarget('[fd00::a]:443', 'cluster.local'), { kind: 'ip', ip: 'fd00::a', port: 443 });
  assert.deepEqual(parseTarget('Web.Shop.svc.cluster.local.:8080', 'cluster.local'), { kind: 'name', name: 'web', namespace: 'shop', port: 8080 });
  assert.deepEqual(parseTarget('web.shop.svc.example.org:80', 'example.org'), { kind: 'name', name: 'web', namespace: 'shop', port: 80 });
});

test('names that are not a Service of this cluster parse to nothing (pass-through), not an error', () => {
  for (const t of ['example.com:443', 'web.shop.svc.other.domain:80', 'a.b.shop.svc.cluster.local:80', 'web.svc.cluster.local:80', '-bad.shop.svc.cluster.local:80']) {
    assert.equal(parseTarget(t, 'cluster.local'), undefined, t);
  }
});

test('malformed targets are refused with a reason', () => {
  for (const t of ['10.96.0.10', '10.96.0.10:0', '10.96.0.10:70000', 'fd00::1:80', '[not-v6]:80', ':80', 'web.shop.svc.cluster.local:http']) {
    assert.throws(() => parseTarget(t, 'cluster.local'), (e: unknown) => e instanceof TargetError && e.code === 'target_malformed' && e.message.includes(t), t);
  }
});

test('one key per target however it was spelled', () => {
  assert.equal(targetKey(parseTarget('WEB.shop.svc.cluster.local.:80', 'cluster.local')!), targetKey(parseTarget('web.shop.svc.cluster.local:80', 'cluster.local')!));
  assert.equal(targetKey({ kind: 'ip', ip: 'fd00::a', port: 1 }), '[fd00::a]:1');
});
