// relayOverH1 (node:http's path to an HTTP/1.1 app, which the inbound proxy
// takes for requests the raw path hands over, and for HTTP/2 requests that
// were HTTP/1.1 at their origin), against a real app on loopback: bodies
// both ways, trailers, hop-by-hop headers, 100-continue, and an app that
// drops the connection before answering.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { relayOverH1, requestHead, type Outcome } from './relay.ts';
import { PROXY_ERROR } from './headers.ts';

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void, relaysContinue = false): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(handler);
  // As http-front.ts does: the proxy relays the app's 100 Continue instead of answering one itself.
  if (relaysContinue) server.on('checkContinue', handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  after(() => { server.closeAllConnections(); server.close(); });
  return { server, port: (server.address() as AddressInfo).port };
}

/** A front that relays every request to the app, and remembers each outcome. */
async function front(appPort: number): Promise<{ port: number; outcomes: Outcome[] }> {
  const outcomes: Outcome[] = [];
  const agent = new http.Agent({ keepAlive: true });
  after(() => agent.destroy());
  const { port } = await listen((req, res) => {
    void relayOverH1({ agent, host: '127.0.0.1', port: appPort }, requestHead(req), req, res).then((o) => outcomes.push(o));
  }, true);
  return { port, outcomes };
}

function send(port: number, o: http.RequestOptions, body?: string): Promise<{ res: IncomingMessage; text: string; continued: boolean }> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = http.request({ host: '127.0.0.1', port, agent: false, ...o }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ res, text, continued }));
    });
    req.on('error', reject);
    req.on('continue', () => { continued = true; req.end(body); });
    if (o.headers && 'expect' in o.headers) return;
    req.end(body);
  });
}

const BOUNDED = { timeout: 10_000 };

test('a request body reaches the app and its answer comes back, hop-by-hop headers dropped both ways', BOUNDED, async () => {
  const app = await listen((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => { body += d; });
    req.on('end', () => {
      const h = (name: string) => String(req.headers[name] ?? '-');
      res.writeHead(201, { 'x-seen': `${req.method} ${req.url} ${h('host')} ${h('x-mine')} ${h('x-hop')}`, connection: 'x-app-hop', 'x-app-hop': '1' });
      res.end(`got ${body}`);
    });
  });
  const f = await front(app.port);
  const { res, text } = await send(f.port, { method: 'POST', path: '/p?q=1', headers: { host: 'svc.example:80', 'x-mine': 'yes', 'x-hop': 'no', connection: 'x-hop' } }, 'hello');
  assert.equal(res.statusCode, 201);
  assert.equal(res.headers['x-seen'], 'POST /p?q=1 svc.example:80 yes -');
  assert.equal(res.headers['x-app-hop'], undefined, 'a header the app\'s Connection names stays on its connection');
  assert.equal(text, 'got hello');
  assert.deepEqual(f.outcomes.at(-1), { status: 201 });
});

test('trailers from the app reach the client', BOUNDED, async () => {
  const app = await listen((_req, res) => {
    res.writeHead(200, { trailer: 'x-checksum' });
    res.write('part');
    res.addTrailers({ 'x-checksum': 'abc' });
    res.end();
  });
  const f = await front(app.port);
  const { res, text } = await send(f.port, { path: '/t' });
  assert.equal(text, 'part');
  assert.equal(res.trailers['x-checksum'], 'abc');
});

test('Expect: 100-continue goes through http.request (undici has none) and the client gets its 100', BOUNDED, async () => {
  const app = await listen((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => { body += d; });
    req.on('end', () => res.end(`got ${body}`));
  });
  const f = await front(app.port);
  const { res, text, continued } = await send(f.port, { method: 'PUT', path: '/c', headers: { expect: '100-continue', 'content-length': '5' } }, 'hello');
  assert.equal(continued, true);
  assert.equal(res.statusCode, 200);
  assert.equal(text, 'got hello');
});

test('an app that drops the connection before answering gets the client a 502 from the proxy', BOUNDED, async () => {
  const app = await listen((req) => req.socket.destroy());
  const f = await front(app.port);
  const { res } = await send(f.port, { path: '/drop' });
  assert.equal(res.statusCode, 502);
  assert.equal(res.headers[PROXY_ERROR], 'connect_failed');
  assert.equal(f.outcomes.at(-1)?.error?.code, 'connect_failed');
});

test('a large answer is streamed with backpressure, whole and in order', BOUNDED, async () => {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const app = await listen((_req, res) => {
    let n = 0;
    const more = () => { while (n < 64) { n++; if (!res.write(chunk)) { res.once('drain', more); return; } } res.end(); };
    more();
  });
  const f = await front(app.port);
  const { text } = await send(f.port, { path: '/big' });
  assert.equal(text.length, 64 * chunk.length);
});
