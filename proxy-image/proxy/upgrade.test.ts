// Upgrade (WebSocket) and Expect: 100-continue on Skein's own HTTP/1.1 path,
// byte for byte, through two proxies on loopback with real mutual TLS: an
// outbound proxy, a peer's inbound proxy, and the app. The WebSocket client
// is Node's own (undici's, the browsers' API); the server is the `ws` package.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from '../../shared/prom-text.ts';
import { WebSocketServer } from 'ws';
import type { Update } from '../../api/discovery-protocol.ts';
import { createCa } from '../../shared/tls.ts';
import { composeProxy } from './compose.ts';
import { MeshTls } from './mesh-tls.ts';
import { CLIENT_ID, counter, SERVER_ID, silentDiscovery, TEST_TIMEOUTS, workloadCert } from './test-pair.ts';

const log = pino({ level: 'silent' });
const closers: (() => void)[] = [];
after(() => { for (const c of closers.reverse()) c(); });

async function listen(server: net.Server | http.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

let outPort = 0;
let inboundMetrics: Registry;
/** What the app saw of each upgrade: the client identity the inbound proxy added. */
const upgrades: (string | string[] | undefined)[] = [];

before(async () => {
  // The app: WebSocket echo on /chat (refused elsewhere), and HTTP that reads bodies; /refuse answers 401 without reading one.
  const app = http.createServer((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => res.end(JSON.stringify({ bytes: n })));
  });
  app.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url === '/refuse') { res.writeHead(401, { 'content-length': '6' }); res.end('denied'); return; }
    res.writeContinue();
    app.emit('request', req, res);
  });
  const wss = new WebSocketServer({ noServer: true });
  app.on('upgrade', (req, socket, head) => {
    if (req.url === '/early') {
      // The 101 and the app's first tunnel bytes in one write; then an echo of whatever the client sent (its early bytes first).
      socket.write(Buffer.concat([Buffer.from('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\nhi:'), head]));
      socket.pipe(socket);
      return;
    }
    if (req.url !== '/chat') { socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno'); return; }
    upgrades.push(req.headers['skein-client-id']);
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
  });
  closers.push(() => wss.close());
  const appPort = await listen(app);

  const ca = await createCa({ commonName: 'upgrade test root', validForMs: 3_600_000 });
  const trust = ca.cert.toString('pem');
  const podTls = new MeshTls(trust);
  podTls.update(await workloadCert(ca, { identity: SERVER_ID }));
  inboundMetrics = new Registry();
  const pod = composeProxy({ tls: podTls, discovery: silentDiscovery, registry: inboundMetrics, log, timeouts: TEST_TIMEOUTS, originalDestination: () => ({ ip: '127.0.0.1', port: appPort, family: 4 }) });
  closers.push(() => pod.close());
  const podPort = await listen(pod.server('inbound'));

  const clientTls = new MeshTls(trust);
  clientTls.update(await workloadCert(ca, { identity: CLIENT_ID }));
  const update: Update = { type: 'update', exists: true, opaque: false, endpoints: [{ ip: '127.0.0.1', port: podPort, identity: SERVER_ID, protocolHint: 'http', labels: {} }], service: { name: 'chat', namespace: 'shop', port: 80 } };
  const discovery = { watch: (_t: string, onUpdate: (u: Update) => void) => { const t = setImmediate(() => onUpdate(update)); return () => clearImmediate(t); } };
  const client = composeProxy({ tls: clientTls, discovery, registry: new Registry(), log, timeouts: TEST_TIMEOUTS, originalDestination: () => ({ ip: '198.18.0.80', port: 80, family: 4 }) });
  closers.push(() => client.close());
  outPort = await listen(client.server('outbound'));
});

test('a WebSocket client and server talk through both proxies: text and binary messages echo, the app sees the client\'s identity', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${outPort}/chat`);
  ws.binaryType = 'arraybuffer';
  await new Promise<void>((resolve, reject) => { ws.onopen = () => resolve(); ws.onerror = () => reject(new Error('websocket failed to open')); });
  const replies: (string | ArrayBuffer)[] = [];
  const got = (n: number) => new Promise<void>((resolve) => {
    ws.onmessage = (e: MessageEvent) => { replies.push(e.data as string | ArrayBuffer); if (replies.length === n) resolve(); };
  });
  const three = got(3);
  ws.send('hello');
  const big = new Uint8Array(200_000).map((_, i) => i % 251);
  ws.send(big);
  ws.send('bye');
  await three;
  assert.equal(replies[0], 'hello');
  assert.deepEqual(new Uint8Array(replies[1] as ArrayBuffer), big, 'a 200 kB binary message crosses both hops intact');
  assert.equal(replies[2], 'bye');
  ws.close(1000, 'done');
  const closed = await new Promise<CloseEvent>((resolve) => { ws.onclose = resolve; });
  assert.equal(closed.code, 1000);
  assert.deepEqual(upgrades, [CLIENT_ID]);
  const text = await inboundMetrics.metrics();
  assert.match(text, /^response_total\{[^}]*status_code="101"[^}]*\} 1$/m, 'the inbound proxy counts the switch as a 101 answer');
});

async function raw(send: (s: net.Socket, got: () => string) => Promise<void>): Promise<{ text: string; closed: boolean }> {
  const s = net.connect(outPort, '127.0.0.1');
  let text = '';
  let closed = false;
  s.on('data', (c: Buffer) => { text += c.toString('latin1'); });
  s.on('close', () => { closed = true; });
  await once(s, 'connect');
  await send(s, () => text);
  await new Promise((r) => setTimeout(r, 200));
  s.destroy();
  return { text, closed };
}

const until = async (f: () => boolean) => { for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10)); };

test('early bytes both ways: the client\'s sent before the 101, the app\'s in the 101\'s own packet, all arrive in order', async () => {
  const r = await raw(async (s, got) => {
    s.write('GET /early HTTP/1.1\r\nhost: chat\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\nfirst;');
    await until(() => got().endsWith('hi:first;'));
    s.write('second;');
    await until(() => got().endsWith('second;'));
  });
  assert.match(r.text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.ok(r.text.endsWith('\r\n\r\nhi:first;second;'), JSON.stringify(r.text));
});

test('an upgrade the app refuses: its answer reaches the client whole, and the connection closes', async () => {
  const r = await raw(async (s, got) => {
    s.write('GET /other HTTP/1.1\r\nhost: chat\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    await until(() => got().endsWith('no'));
  });
  assert.match(r.text, /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.ok(r.text.endsWith('\r\n\r\nno'), r.text);
  assert.equal(r.closed, true);
});

test('Expect: 100-continue: the app\'s 100 reaches the client before it sends the body, then the answer', async () => {
  const r = await raw(async (s, got) => {
    s.write('PUT /c HTTP/1.1\r\nhost: chat\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n');
    await until(() => got().includes('100 Continue'));
    assert.equal(got(), 'HTTP/1.1 100 Continue\r\n\r\n', 'nothing but the 100 before the body is sent');
    s.write('hello');
    await until(() => got().endsWith('{"bytes":5}'));
  });
  assert.match(r.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  assert.ok(r.text.endsWith('{"bytes":5}'), r.text);
  assert.equal(r.closed, false, 'a body that was sent keeps the connection for the next request');
});

test('Expect: 100-continue refused by the app: its final answer without a 100, the body never sent, the connection closed', async () => {
  const r = await raw(async (_s, got) => { _s.write('PUT /refuse HTTP/1.1\r\nhost: chat\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n'); await until(() => got().endsWith('denied')); });
  assert.match(r.text, /^HTTP\/1\.1 401 Unauthorized\r\n/);
  assert.doesNotMatch(r.text, /100 Continue/);
  assert.equal(r.closed, true);
  // Both proxies still serve.
  const again = await raw(async (s, got) => { s.write('GET /x HTTP/1.1\r\nhost: chat\r\n\r\n'); await until(() => got().endsWith('{"bytes":0}')); });
  assert.match(again.text, /^HTTP\/1\.1 200 OK/);
  assert.equal(counter(await inboundMetrics.metrics(), 'inbound_refused_total{reason="malformed_http"}'), 0);
});
