// server.ts + client.ts + relay.ts as one hop on loopback: a raw-socket
// front relaying to an app through the keep-alive pool, driven by raw bytes.
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { H1Pool } from './client.ts';
import { DEFAULT_H1_LIMITS } from './codec.ts';
import { relayH1 } from './relay.ts';
import { H1ServerConnection } from './server.ts';

const BOUNDED = { timeout: 20_000 };
const closers: (() => void)[] = [];
after(() => { for (const c of closers.reverse()) c(); });

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closers.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** The app: echoes method, path, the headers it got and the body; a few paths behave badly on purpose. */
const seen: { path: string; headers: http.IncomingHttpHeaders }[] = [];
let appConnections = 0;
const app = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    seen.push({ path: req.url ?? '', headers: req.headers });
    const body = Buffer.concat(chunks);
    if (req.url === '/trailers') {
      res.writeHead(200, { trailer: 'x-sum' });
      res.write('part');
      res.addTrailers({ 'x-sum': String(body.length) });
      res.end();
      return;
    }
    if (req.url === '/big') { res.end(Buffer.alloc(4 * 1024 * 1024, 0x61)); return; }
    if (req.url === '/until-close') {
      // An HTTP/1.0-style answer: no length, the body ends when the connection does.
      res.socket?.end('HTTP/1.1 200 OK\r\nx-kind: close-delimited\r\n\r\nall of it');
      return;
    }
    res.setHeader('x-got-body', String(body.length));
    res.setHeader('x-trailer-seen', JSON.stringify(req.trailers));
    res.end(`${req.method} ${req.url}`);
  });
});
app.on('connection', () => { appConnections++; });
const appPort = await listen(app);

const pool = new H1Pool({ idleMs: 2_000, limits: DEFAULT_H1_LIMITS });
closers.push(() => pool.close());
let dials = 0;
const upstream = {
  pool, key: 'app',
  dial: () => new Promise<net.Socket>((resolve, reject) => {
    dials++;
    const s = net.connect(appPort, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  }),
};
let malformed = 0;
const proxy = net.createServer((socket) => {
  new H1ServerConnection(socket, { ...DEFAULT_H1_LIMITS, headersTimeoutMs: 1_000, idleMs: 5_000 }, {
    onRequest: (ex) => { void relayH1(ex, upstream, { extra: { 'x-proxied': '1' }, drop: new Set(['x-drop-me']) }); },
    onMalformed: () => { malformed++; },
  });
});
const proxyPort = await listen(proxy);

/** Writes `bytes` on one connection and reads until the proxy closes it or `ms` pass. */
function raw(bytes: string | Buffer, ms = 1_500, endAfterWrite = false): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(proxyPort, '127.0.0.1');
    let text = '';
    s.on('data', (c: Buffer) => { text += c.toString('latin1'); });
    const timer = setTimeout(() => { s.destroy(); resolve({ text, closed: false }); }, ms);
    s.on('close', () => { clearTimeout(timer); resolve({ text, closed: true }); });
    s.on('error', () => undefined);
    s.write(bytes);
    if (endAfterWrite) s.end();
  });
}

const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

test('keep-alive both sides: many requests on one client connection ride one pooled app connection', BOUNDED, async () => {
  const before = appConnections;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < 20; i++) {
    const body = await new Promise<string>((resolve, reject) => {
      http.get({ port: proxyPort, host: '127.0.0.1', path: `/n${i}`, agent }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => { b += c.toString(); });
        res.on('end', () => resolve(b));
      }).on('error', reject);
    });
    assert.equal(body, `GET /n${i}`);
  }
  agent.destroy();
  assert.equal(appConnections - before, 1, 'one app connection for twenty requests');
});

test('pipelined requests are answered in order, one at a time', BOUNDED, async () => {
  const r = await raw('GET /p1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /p2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /p3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.equal(r.closed, true, 'Connection: close ends the connection after the last answer');
  assert.deepEqual(statuses(r.text), [200, 200, 200], r.text);
  const order = [...r.text.matchAll(/(GET|POST) (\/p\d)/g)].map((m) => m[2]);
  assert.deepEqual(order, ['/p1', '/p2', '/p3']);
});

test('hop-by-hop headers and Connection-named ones are dropped, the proxy\'s own added, a client\'s forged one dropped', BOUNDED, async () => {
  await raw('GET /hop HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, x-secret\r\nx-secret: 1\r\nKeep-Alive: timeout=5\r\nx-drop-me: forged\r\nx-end: 2\r\n\r\n', 500);
  const h = seen.find((s) => s.path === '/hop')?.headers;
  assert.ok(h);
  assert.equal(h['x-secret'], undefined);
  assert.equal(h['keep-alive'], undefined);
  assert.equal(h['x-drop-me'], undefined);
  assert.equal(h['x-end'], '2');
  assert.equal(h['x-proxied'], '1');
});

test('a chunked request body with trailers reaches the app whole; response trailers reach the client', BOUNDED, async () => {
  const r = await raw('POST /trailers HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: x-t\r\nConnection: close\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-t: v\r\n\r\n');
  assert.deepEqual(statuses(r.text), [200]);
  assert.match(r.text, /transfer-encoding: chunked/i);
  assert.match(r.text, /\r\n0\r\nx-sum: 11\r\n\r\n$/i, 'the app counted 11 body bytes and its trailer came through');
});

test('request smuggling attempts are refused with 400, the connection closed, nothing reaches the app, and the proxy still serves', BOUNDED, async () => {
  const smuggled = [
    'POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    'POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    'POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    'POST /s HTTP/1.1\nHost: a\nContent-Length: 0\n\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
  ];
  const before = malformed;
  for (const s of smuggled) {
    const r = await raw(s);
    assert.deepEqual(statuses(r.text), [400], JSON.stringify(s));
    assert.match(r.text, /skein-proxy-error: malformed_request/);
    assert.equal(r.closed, true);
  }
  assert.equal(malformed - before, smuggled.length, 'each refusal counted');
  assert.ok(!seen.some((s) => s.path === '/smuggled' || s.path === '/s'), 'nothing reached the app');
  assert.deepEqual(statuses((await raw('GET /still HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')).text), [200]);
});

test('oversized heads get 431, slow heads 408 at the headers timeout, a cut head 400 when the client ends', BOUNDED, async () => {
  const big = await raw(`GET / HTTP/1.1\r\nHost: a\r\nx: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
  assert.deepEqual(statuses(big.text), [431]);
  const slow = await raw('GET / HTTP/1.1\r\nHost: a\r\n', 3_000);
  assert.deepEqual(statuses(slow.text), [408]);
  assert.equal(slow.closed, true);
  const cut = await raw('GET / HTTP/1.1\r\nHo', 1_500, true);
  assert.deepEqual(statuses(cut.text), [400]);
  assert.equal(cut.closed, true);
});

test('a body that runs until the app closes reaches the client, whose connection then closes too', BOUNDED, async () => {
  const r = await raw('GET /until-close HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.deepEqual(statuses(r.text), [200]);
  assert.match(r.text, /connection: close/i);
  assert.ok(r.text.endsWith('all of it'));
  assert.equal(r.closed, true);
});

test('a large answer streams whole with backpressure', BOUNDED, async () => {
  const r = await raw('GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 10_000);
  const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
  assert.equal(body.length, 4 * 1024 * 1024);
  assert.equal(r.closed, true);
});

test('an idle pooled connection the app closed is not used again: the next request dials afresh and succeeds', BOUNDED, async () => {
  await raw('GET /warm HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  const idleBefore = pool.idleCount('app');
  assert.ok(idleBefore >= 1);
  // The app drops its idle keep-alive connections (as its keepAliveTimeout would).
  app.closeIdleConnections();
  await new Promise((r) => setTimeout(r, 100));
  const d = dials;
  const r = await raw('GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.deepEqual(statuses(r.text), [200]);
  assert.ok(dials > d, 'a new connection was dialled');
});

test('a drained connection reads nothing more: a request that crosses the close is not processed', BOUNDED, async () => {
  let processed = 0;
  let conn: H1ServerConnection | undefined;
  const front = net.createServer((socket) => {
    conn = new H1ServerConnection(socket, { ...DEFAULT_H1_LIMITS, headersTimeoutMs: 1_000, idleMs: 5_000 }, {
      onRequest: (ex) => { processed++; void relayH1(ex, upstream); },
      onMalformed: () => undefined,
    });
  });
  const port = await listen(front);
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  await new Promise((r) => setTimeout(r, 50));
  conn?.drain();
  s.write('POST /crossing HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi');
  let text = '';
  s.on('data', (c: Buffer) => { text += c.toString('latin1'); });
  s.on('error', () => undefined);
  await new Promise((r) => s.once('end', r));
  s.destroy();
  assert.equal(processed, 0);
  assert.equal(text, '', 'no answer: the connection ended at the request boundary');
});

test('a reused connection the endpoint closes before answering: a POST goes to the retry gate as unprocessed; a GET is resent on a fresh connection', BOUNDED, async () => {
  // An endpoint that answers the first request on a connection and closes on the second without reading it.
  let served = 0;
  const flaky = net.createServer((socket) => {
    let n = 0;
    socket.on('data', () => {
      if (n++ === 0) { served++; socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'); } else socket.destroy();
    });
    socket.on('error', () => undefined);
  });
  const port = await listen(flaky);
  const peers = new H1Pool({ idleMs: 5_000, limits: DEFAULT_H1_LIMITS });
  closers.push(() => peers.close());
  const up = { pool: peers, key: 'flaky', dial: () => new Promise<net.Socket>((resolve) => { const s = net.connect(port, '127.0.0.1', () => resolve(s)); }) };
  let unsent = 0;
  const gate = { shouldRetry: () => false, unsent: () => { unsent++; return true; } };
  const outcomes: Awaited<ReturnType<typeof relayH1>>[] = [];
  const front = net.createServer((socket) => {
    new H1ServerConnection(socket, { ...DEFAULT_H1_LIMITS, headersTimeoutMs: 1_000, idleMs: 5_000 }, {
      onRequest: (ex) => { void relayH1(ex, up, { retry: gate }).then((o) => { outcomes.push(o); if (o.retried) socket.destroy(); }); },
      onMalformed: () => undefined,
    });
  });
  const frontPort = await listen(front);
  const send = (req: string) => new Promise<string>((resolve) => {
    const s = net.connect(frontPort, '127.0.0.1');
    let text = '';
    s.on('data', (c: Buffer) => { text += c.toString('latin1'); });
    s.on('close', () => resolve(text));
    s.on('error', () => undefined);
    s.write(req);
  });
  assert.deepEqual(statuses(await send('GET /1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')), [200]);
  // A POST without a body (the outbound proxy buffers small bodies for exactly this, retries.ts).
  assert.deepEqual(statuses(await send('POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')), []);
  assert.equal(unsent, 1, 'the POST was handed back as unprocessed');
  assert.equal(outcomes.at(-1)?.retried, true);
  // The pooled connection is gone; warm one more, then a GET on it is resent on a fresh connection and answered.
  await send('GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  const before = served;
  assert.deepEqual(statuses(await send('GET /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')), [200]);
  assert.equal(served - before, 1);
  assert.equal(unsent, 1, 'the GET did not need the gate');
});
