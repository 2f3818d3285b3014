import assert from 'node:assert/strict';
import test from 'node:test';
import type { Endpoint, Update } from '../../api/discovery-protocol.ts';
import { BalanceLayer, failed, REFUSING_MS, type Carrier } from './balance.ts';
import { p2cPeakEwma } from './balancer.ts';
import { Destination } from './destinations.ts';
import { ProxyError } from './errors.ts';
import type { Outcome } from './relay.ts';
import type { RequestRetries } from './retries.ts';

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
  const layer = new BalanceLayer({ now: () => now });
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

function carrier(attempt: (e: Endpoint, retries: RequestRetries) => Outcome) {
  const tried: Endpoint[] = [];
  const failures: ProxyError[] = [];
  const c: Carrier = {
    req: { method: 'GET', url: '/', headers: {} }, hasBody: false,
    readBody: () => Promise.resolve(Buffer.alloc(0)),
    fail: (err) => { failures.push(err); return { status: err.status, error: err }; },
    respond: (status) => ({ status }),
    forward: (chosen, _options, retries) => { chosen.begin(); tried.push(chosen.endpoint); return Promise.resolve(attempt(chosen.endpoint, retries)); },
  };
  return { c, tried, failures };
}

function realDestination(endpoints: Endpoint[]): Destination {
  const d = new Destination('web.shop.svc.cluster.local:80', () => p2cPeakEwma<Endpoint>((e) => `${e.ip}:${e.port}`));
  d.apply({ type: 'update', exists: true, opaque: false, endpoints, service: { name: 'web', namespace: 'shop', port: 80 } });
  return d;
}

test('send: a request no endpoint processed goes to another one, counted as retried; the refusing one is then skipped', async () => {
  const retried: string[] = [];
  const layer = new BalanceLayer({ onRetry: (service, route, result) => retried.push(`${service} ${route} ${result}`) });
  const d = realDestination([a, b]);
  const { c, tried } = carrier((e, retries) => (e === a && retries.unsent() ? { status: 502, retried: true } : { status: 200 }));
  // Start on a, whichever P2C would have picked.
  const first = layer.choose(d, d.balancer, b);
  assert.ok(!(first instanceof ProxyError) && first.endpoint === a);
  const outcome = await layer.send(first, { destination: d, balancer: d.balancer, route: undefined, routeLabel: undefined }, c);
  assert.equal(outcome.status, 200);
  assert.deepEqual(tried, [a, b]);
  assert.deepEqual(retried, ['web.shop:80 [default] retried']);
  const next = layer.choose(d);
  assert.ok(!(next instanceof ProxyError) && next.endpoint === b, 'a refused unprocessed: skipped for a while');
});

test('send: with nowhere left to go the request gets the balance error; an answer nobody retries is returned as is', async () => {
  const layer = new BalanceLayer();
  const d = realDestination([a]);
  // The endpoint refuses, and meanwhile discovery says it is gone.
  const refusing = carrier((_e, retries) => {
    d.apply({ type: 'update', exists: true, opaque: false, endpoints: [], service: { name: 'web', namespace: 'shop', port: 80 } });
    return retries.unsent() ? { status: 502, retried: true } : { status: 502 };
  });
  const first = layer.choose(d);
  assert.ok(!(first instanceof ProxyError));
  const outcome = await layer.send(first, { destination: d, balancer: d.balancer, route: undefined, routeLabel: undefined }, refusing.c);
  assert.equal(outcome.error?.code, 'no_ready_endpoint');
  assert.equal(refusing.failures.length, 1);
  const answered = carrier(() => ({ status: 500 }));
  d.apply({ type: 'update', exists: true, opaque: false, endpoints: [a], service: { name: 'web', namespace: 'shop', port: 80 } });
  const again = new BalanceLayer().choose(d);
  assert.ok(!(again instanceof ProxyError));
  assert.equal((await new BalanceLayer().send(again, { destination: d, balancer: d.balancer, route: undefined, routeLabel: undefined }, answered.c)).status, 500);
  assert.equal(answered.tried.length, 1, 'a 500 on a route without retries is not retried');
});

test('failed: the proxy\'s error, or the route\'s failure classes (5xx by default)', () => {
  assert.equal(failed(undefined, { status: 200 }), false);
  assert.equal(failed(undefined, { status: 503 }), true);
  assert.equal(failed(undefined, { status: 200, error: new ProxyError('upstream_reset', 'x') }), true);
});

test('send: a Gateway API rule retries only its listed statuses, at most its attempts, paid from the same budget', async () => {
  const routeRule = { name: 'r', matches: () => true, isFailure: () => undefined, isRetryable: true, timeoutMs: undefined, retryStatuses: new Set([503]), maxAttempts: 3 };
  const d = realDestination([a, b]);
  const statuses = [503, 503, 503, 200];
  const { c, tried } = carrier((_e, retries) => {
    const status = statuses[tried.length - 1] ?? 200;
    return retries.shouldRetry(status, {}, undefined) ? { status, retried: true } : { status };
  });
  const layer = new BalanceLayer();
  const first = layer.choose(d);
  assert.ok(!(first instanceof ProxyError));
  const outcome = await layer.send(first, { destination: d, balancer: d.balancer, route: routeRule, routeLabel: 'r' }, c);
  assert.equal(outcome.status, 503, 'three attempts in all (attempts: 2), then the answer goes through');
  assert.equal(tried.length, 3);
  const other = carrier((_e, retries) => (retries.shouldRetry(500, {}, undefined) ? { status: 500, retried: true } : { status: 500 }));
  const again = layer.choose(d);
  assert.ok(!(again instanceof ProxyError));
  assert.equal((await layer.send(again, { destination: d, balancer: d.balancer, route: routeRule, routeLabel: 'r' }, other.c)).status, 500);
  assert.equal(other.tried.length, 1, '500 is not among the codes: not retried');
});

test('send: a Gateway API rule\'s request timeout bounds the retries together', async () => {
  let now = 0;
  const routeRule = { name: 'r', matches: () => true, isFailure: () => undefined, isRetryable: true, timeoutMs: undefined, retryStatuses: new Set([503]), maxAttempts: 5, requestTimeoutMs: 100 };
  const d = realDestination([a, b]);
  const { c, tried, failures } = carrier((_e, retries) => { now += 60; return retries.shouldRetry(503, {}, undefined) ? { status: 503, retried: true } : { status: 503 }; });
  const layer = new BalanceLayer({ now: () => now });
  const first = layer.choose(d);
  assert.ok(!(first instanceof ProxyError));
  const outcome = await layer.send(first, { destination: d, balancer: d.balancer, route: routeRule, routeLabel: 'r' }, c);
  assert.equal(outcome.status, 504);
  assert.equal(tried.length, 2);
  assert.equal(failures[0]?.code, 'response_timeout');
});
