import assert from 'node:assert/strict';
import test from 'node:test';
import type { Endpoint, Update } from '../../api/discovery-protocol.ts';
import { BalanceLayer, REFUSING_MS } from './balance.ts';
import { p2cPeakEwma } from './balancer.ts';
import { ProxyError } from './errors.ts';

const ep = (ip: string): Endpoint => ({ ip, port: 80, protocolHint: 'http', labels: {} });
const a = ep('198.18.0.1');
const b = ep('198.18.0.2');

function destination(endpoints: Endpoint[], exists = true) {
  const balancer = p2cPeakEwma<Endpoint>((e) => `${e.ip}:${e.port}`);
  balancer.update(endpoints);
  const update: Update = { type: 'update', exists, opaque: false, endpoints, service: { name: 'web', namespace: 'shop', port: 80 } };
  return { update, balancer, target: 'web.shop.svc.cluster.local:80' };
}

test('no answer from discovery, or no ready endpoint, is the error the request gets', () => {
  const layer = new BalanceLayer();
  const none = layer.choose(destination([], false));
  assert.ok(none instanceof ProxyError && none.code === 'no_endpoint');
  const empty = layer.choose(destination([]));
  assert.ok(empty instanceof ProxyError && empty.code === 'no_ready_endpoint');
  assert.match(empty.message, /web\.shop:80 has no ready endpoint/);
});

test('an endpoint that refused unprocessed is skipped for REFUSING_MS, then picked again', () => {
  let now = 1_000;
  const layer = new BalanceLayer(() => now);
  const d = destination([a, b]);
  layer.refused(a);
  for (let i = 0; i < 50; i++) {
    const p = layer.choose(d);
    assert.ok(!(p instanceof ProxyError));
    assert.equal(p.endpoint, b, 'the refusing endpoint is not picked while another is ready');
  }
  now += REFUSING_MS;
  const picked = new Set<Endpoint>();
  for (let i = 0; i < 50; i++) {
    const p = layer.choose(d);
    if (!(p instanceof ProxyError)) picked.add(p.endpoint);
  }
  assert.ok(picked.has(a), 'after REFUSING_MS it is picked again');
});

test('a retry avoids the endpoint it just tried', () => {
  const layer = new BalanceLayer();
  const d = destination([a, b]);
  for (let i = 0; i < 20; i++) {
    const p = layer.choose(d, d.balancer, a);
    assert.ok(!(p instanceof ProxyError));
    assert.equal(p.endpoint, b);
  }
});
