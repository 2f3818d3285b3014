// A new destination's first connection waits for discovery, for as long as
// compose.ts's wait says at that moment (longer while discovery is connected), and the outcome
// lasts the connection's life: answered in time, its requests are balanced
// over discovery's endpoints; too late, it goes to the address dialled. A
// keep-alive client that lost that race stayed outside every TrafficSplit
// (the split-matches e2e flake), hence a longer wait while discovery is up.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import { once } from 'node:events';
import { Registry } from '../../shared/prom-text.ts';
import { pino } from 'pino';
import type { Update } from '../../api/discovery-protocol.ts';
import { composeProxy } from './compose.ts';
import { MeshTls } from './mesh-tls.ts';
import { TEST_TIMEOUTS } from './test-pair.ts';

const closers: (() => void)[] = [];
after(() => { for (const c of closers.reverse()) c(); });

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

const app = (name: string) => http.createServer((_req, res) => res.end(name));

/**
 * An outbound proxy whose discovery answers every watch after `answerAfterMs`,
 * naming the `balanced` app; it waits 3 s for that answer while discovery is
 * connected and 50 ms while it is away.
 */
async function outboundWith(answerAfterMs: number, discoveryConnected: boolean): Promise<number> {
  const directPort = await listen(app('direct'));
  const balancedPort = await listen(app('balanced'));
  const update: Update = {
    type: 'update', exists: true, opaque: false, service: { name: 'books', namespace: 'shop', port: 80 },
    endpoints: [{ ip: '127.0.0.1', port: balancedPort, protocolHint: 'unknown', labels: {} }],
  };
  const discovery = {
    watch(_target: string, onUpdate: (u: Update) => void) {
      const t = setTimeout(() => onUpdate(update), answerAfterMs);
      return () => clearTimeout(t);
    },
  };
  const proxy = composeProxy({
    tls: new MeshTls(''), discovery, discoveryConnected: () => discoveryConnected, registry: new Registry(), log: pino({ level: 'silent' }),
    originalDestination: () => ({ ip: '127.0.0.1', port: directPort, family: 4 }),
    timeouts: { ...TEST_TIMEOUTS, firstUpdateWaitConnectedMs: 3_000, firstUpdateWaitDisconnectedMs: 50 },
  });
  closers.push(() => proxy.close());
  return listen(proxy.server('outbound'));
}

/** Three requests on one keep-alive connection: who answered each. */
async function threeOnOneConnection(port: number): Promise<string[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const answers: string[] = [];
  for (let i = 0; i < 3; i++) {
    answers.push(await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve(body));
      }).on('error', reject);
    }));
  }
  agent.destroy();
  return answers;
}

test('discovery connected, answering within its longer wait: the connection is meshed, every request on it balanced', async () => {
  const port = await outboundWith(300, true);
  assert.deepEqual(await threeOnOneConnection(port), ['balanced', 'balanced', 'balanced']);
});

test('discovery away, answering after its shorter wait: the connection goes to the address dialled, and stays there', async () => {
  const port = await outboundWith(300, false);
  assert.deepEqual(await threeOnOneConnection(port), ['direct', 'direct', 'direct']);
});
