// The accept layer alone: what it hands down, what it refuses and counts.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from '../../shared/prom-text.ts';
import { AcceptLayer, listener } from './accept.ts';
import { ProxyMetrics } from './metrics.ts';
import type { OriginalDestination } from './original-dst.ts';
import { counter } from './test-pair.ts';

const log = pino({ level: 'silent' });

async function serve(layer: AcceptLayer, metrics: ProxyMetrics, max = 100): Promise<number> {
  const server = listener('outbound', metrics, max, (s) => layer.accept(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  after(() => server.close());
  return (server.address() as AddressInfo).port;
}

test('an accepted socket goes down with its original destination and is counted open until it closes; close() ends them all', async () => {
  const registry = new Registry();
  const metrics = new ProxyMetrics(registry);
  const handed: OriginalDestination[] = [];
  const layer = new AcceptLayer({ direction: 'outbound', metrics, log, originalDestination: () => ({ ip: '198.18.0.7', port: 8080, family: 4 }) }, (_s, original) => handed.push(original));
  const port = await serve(layer, metrics);
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => {});
  await once(client, 'connect');
  while (layer.open === 0) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(handed, [{ ip: '198.18.0.7', port: 8080, family: 4 }]);
  layer.close();
  await once(client, 'close');
  while (layer.open > 0) await new Promise((r) => setTimeout(r, 5));
});

test('a socket without an original destination (no iptables redirect) is closed and counted, never handed down', async () => {
  const registry = new Registry();
  const metrics = new ProxyMetrics(registry);
  let handed = 0;
  const layer = new AcceptLayer({ direction: 'inbound', metrics, log, originalDestination: (_s: Socket) => { throw new Error('ENOENT: no SO_ORIGINAL_DST'); } }, () => { handed++; });
  const port = await serve(layer, metrics);
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => {});
  await once(client, 'close');
  assert.equal(handed, 0);
  assert.equal(counter(await registry.metrics(), 'inbound_refused_total{reason="no_original_destination"}'), 1);
});
