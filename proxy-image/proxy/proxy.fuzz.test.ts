// Seeded fuzzing of both proxy directions on loopback: mutated HTTP/1.1
// requests, hostile HTTP/2 connections, and TLS garbage and cut handshakes
// on the inbound port. Each case must end with a clear answer (a
// well-formed status, never a 500) or a closed connection, never a hang;
// after each batch the proxy still serves and its counters moved.
// Replay a failure with SKEIN_FUZZ_SEED=<seed printed>.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { baseSeed, forEachCase } from '../../testkit/fuzz/random.ts';
import { mutatedRequest, SMUGGLED_PATH } from '../../testkit/fuzz/http1.ts';
import { hostileConnection } from '../../testkit/fuzz/h2.ts';
import { counter, SRC, startMesh, type Mesh } from './test-pair.ts';
import { exchange, statusOf, type Exchange } from '../../testkit/fuzz/wire.ts';

const SEED = baseSeed();
let mesh: Mesh;

before(async () => { mesh = await startMesh(); });
after(() => mesh.close());

function validH1(port: number, localAddress?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/after-fuzz', agent: false, headers: { host: 'api.shop.svc' }, ...(localAddress ? { localAddress } : {}) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

async function validH2(port: number, localAddress?: string): Promise<string> {
  const session = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => net.connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) }) });
  try {
    return await new Promise<string>((resolve, reject) => {
      const st = session.request({ ':path': '/after-fuzz', ':authority': 'grpc.shop.svc' });
      let body = '';
      st.on('data', (c: Buffer) => { body += c.toString(); });
      st.on('end', () => resolve(body));
      st.on('error', reject);
    });
  } finally {
    session.close();
  }
}

/** The oracle every HTTP/1.1 case shares: closed, not hung; any answer well-formed and never an internal error. */
function checkH1Reply(ex: Exchange, what: string): void {
  assert.equal(ex.hung, false, `${what}: the proxy left the connection open after the client finished`);
  if (ex.reply.length === 0) return;
  const s = statusOf(ex.reply);
  assert.ok(s, `${what}: the reply is not HTTP: ${JSON.stringify(ex.reply.subarray(0, 80).toString('latin1'))}`);
  assert.notEqual(s.status, 500, `${what}: an internal error:\n${s.head}`);
  if (s.status >= 400 && /skein-proxy-error/i.test(s.head) === false && s.status !== 400 && s.status !== 431) {
    assert.fail(`${what}: the proxy's own error lacks its reason header:\n${s.head}`);
  }
}

test('HTTP/1.1 fuzz on the outbound port: every case answered or closed, no smuggling, still serving, counted', async () => {
  const port = mesh.outboundPort;
  await forEachCase(SEED, 1500, async (rnd, i) => {
    const c = mutatedRequest(rnd);
    checkH1Reply(await exchange(port, c.bytes, { localAddress: SRC.h1 }), `case ${i} [${c.mutations.join(', ')}]`);
  }, 25);
  assert.ok(!mesh.apps.h1Paths.includes(SMUGGLED_PATH), 'a request smuggled in a body reached the app');
  assert.equal(await validH1(port, SRC.h1), 200);
  const text = await mesh.outboundMetrics.metrics();
  assert.ok(counter(text, 'outbound_refused_total{reason="malformed_http"}') > 100, 'malformed requests are counted');
  assert.ok(counter(text, 'protocol_error_total{direction="outbound",protocol="http1"}') > 100);
});

test('HTTP/1.1 fuzz on the inbound port (plaintext clients): answered or closed, still serving, counted', async () => {
  const port = mesh.h1Pod.port;
  await forEachCase(SEED + 100_000, 600, async (rnd, i) => {
    const c = mutatedRequest(rnd);
    checkH1Reply(await exchange(port, c.bytes), `case ${i} [${c.mutations.join(', ')}]`);
  }, 25);
  assert.ok(!mesh.apps.h1Paths.includes(SMUGGLED_PATH), 'a request smuggled in a body reached the app');
  assert.equal(await validH1(port), 200);
  assert.ok(counter(await mesh.h1Pod.metrics.metrics(), 'inbound_refused_total{reason="malformed_http"}') > 50);
});

test('HTTP/2 fuzz (bad prefaces, invalid frames, floods, rapid reset, CONTINUATION) on both ports: closed, still serving, counted', async () => {
  for (const [port, src, registry, direction, n] of [
    [mesh.outboundPort, SRC.h2, mesh.outboundMetrics, 'outbound', 300],
    [mesh.h2Pod.port, undefined, mesh.h2Pod.metrics, 'inbound', 150],
  ] as const) {
    await forEachCase(SEED + 200_000, n, async (rnd, i) => {
      const c = hostileConnection(rnd);
      const ex = await exchange(port, c.bytes, { ...(src ? { localAddress: src } : {}) });
      assert.equal(ex.hung, false, `${direction} case ${i} [${c.attack}]: left open after the client finished`);
    }, 10);
    assert.equal(await validH2(port, src), 'h2 ok', `${direction}: a valid h2 client is served after the fuzz`);
    assert.ok(counter(await registry.metrics(), `protocol_error_total{direction="${direction}",protocol="h2"}`) > 10, `${direction}: h2 protocol errors are counted`);
  }
  // Rapid reset: thousands of streams opened and cancelled must not each become an app request.
  assert.ok(mesh.apps.h2Streams < 2_000, `the apps saw ${mesh.apps.h2Streams} h2 streams from reset floods`);
});

/** A real ClientHello (and the rest of the client's flight), captured from Node's TLS client. */
async function capturedClientHello(): Promise<Buffer> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as net.AddressInfo).port;
  const got = new Promise<Buffer>((resolve) => server.once('connection', (s) => s.once('data', (b: Buffer) => { resolve(b); s.destroy(); })));
  const c = tls.connect({ host: '127.0.0.1', port, servername: 'api.shop.svc', ALPNProtocols: ['h2', 'http/1.1'] });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

test('TLS on the inbound port: a ClientHello cut at every byte, flipped bytes and garbage records are refused and counted; peers still connect', async () => {
  const hello = await capturedClientHello();
  const port = mesh.h1Pod.port;
  // From two bytes on (0x16 0x03) the inbound proxy takes it for TLS; a lone 0x16 is an opaque plaintext client's business.
  const cases = Array.from({ length: hello.length - 2 }, (_, k) => ({ what: `hello cut at ${k + 2}`, bytes: hello.subarray(0, k + 2) }));
  await forEachCase(SEED + 300_000, 300, (rnd) => {
    const b = Buffer.from(hello);
    for (let k = 0, n = 1 + rnd.int(8); k < n; k++) b[5 + rnd.int(b.length - 5)] = rnd.int(256);
    cases.push({ what: 'hello with flipped bytes', bytes: b });
    cases.push({ what: 'garbage record', bytes: Buffer.concat([Buffer.from([0x16, 0x03, rnd.int(5)]), rnd.bytes(rnd.int(2000))]) });
    return Promise.resolve();
  });
  // All at once: a handshake cut short and ended is only dropped at the TLS
  // handshake timeout (10 s, mesh-tls.ts), not at the client's FIN. The guard is
  // far past it so a loaded machine (load 10 cut one at 15 s) is not taken for a hang.
  await Promise.all(cases.map(async (c) => {
    const ex = await exchange(port, c.bytes, { guardMs: 40_000 });
    assert.equal(ex.hung, false, `${c.what}: left open past the handshake timeout`);
    assert.equal(statusOf(ex.reply)?.status, undefined, `${c.what}: TLS garbage must not reach the app as plaintext`);
  }));
  console.log(`TLS: ${cases.length} hostile handshakes (ClientHello of ${hello.length} bytes)`);
  assert.equal(await validH1(mesh.outboundPort, SRC.h1), 200, 'a meshed peer still gets through mutual TLS');
  const text = await mesh.h1Pod.metrics.metrics();
  const refusals = text.split('\n').filter((l) => l.startsWith('inbound_refused_total{')).join('; ');
  console.log(`TLS refusals: ${refusals}`);
  // Which reason a case lands on depends on timing (a flipped key share fails only at the
  // handshake timeout; a garbage record's length may promise more bytes than come), and a
  // hello cut early may end before it is taken for TLS; so the bound is on the two reasons
  // together: at least one refusal per whole hostile record (flipped or garbage).
  const whole = cases.filter((c) => !c.what.startsWith('hello cut')).length;
  const tlsRefusals = counter(text, 'inbound_refused_total{reason="tls_handshake"}') + counter(text, 'inbound_refused_total{reason="tls_handshake_timeout"}');
  assert.ok(tlsRefusals >= whole, `refused handshakes are counted: ${tlsRefusals} for ${whole} whole hostile records and ${cases.length - whole} cut hellos (${refusals})`);
});
