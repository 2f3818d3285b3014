// Seeded hostile requests against the discovery server over real h2 + mutual
// TLS: truncated JSON, type swaps, hostile keys, deep nesting, junk, huge
// bodies, hostile targets, and many half-open streams at once. Each gets a
// 200 stream (a request that is valid after all) or a 4xx with a reason
// code, never a 5xx or a dropped server; refusals are counted; a valid watch
// is served after. Replay a failure with SKEIN_FUZZ_SEED.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { createLogger } from '../../shared/log.ts';
import { WATCH_PATH, INBOUND_PATH } from '../../api/discovery-protocol.ts';
import { baseSeed, forEachCase, type Random } from '../../testkit/fuzz/random.ts';
import { deepJson, mutatedJson } from '../../testkit/fuzz/json.ts';
import { ClusterCache, serviceAccountOf } from './cache.ts';
import { DiscoveryHub } from '../hub.ts';
import { discoveryMetrics } from './metrics.ts';
import { createDiscoveryServer } from './server.ts';
import { testPki, CONTROLLER_IDENTITY } from './test-pki.ts';

const SEED = baseSeed();
const MAX_BODY = 4096;
const BODY_TIMEOUT_MS = 300;
const HANDSHAKE_TIMEOUT_MS = 500;
const pki = await testPki();
const metrics = discoveryMetrics();
const cache = new ClusterCache();
const server = createDiscoveryServer({
  tls: pki.server, hub: new DiscoveryHub(cache, { trustDomain: 'cluster.local' }), clusterDomain: 'cluster.local', metrics,
  logger: createLogger('discovery-fuzz', 'silent'), podServiceAccount: (ns, pod) => serviceAccountOf(cache, ns, pod),
  maxBodyBytes: MAX_BODY, bodyTimeoutMs: BODY_TIMEOUT_MS, handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
});
let url = '';
const sessions: ClientHttp2Session[] = [];

before(async () => {
  cache.applyPod('added', { metadata: { name: 'web-1', namespace: 'shop' }, spec: { serviceAccountName: 'web', containers: [{ name: 'app' }] }, status: { phase: 'Running', podIP: '10.0.0.1' } });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => { for (const s of sessions) s.destroy(); server.close(); });

function session(): ClientHttp2Session {
  const s = connect(url, { ...pki.client, servername: CONTROLLER_IDENTITY });
  s.on('error', () => undefined);
  sessions.push(s);
  return s;
}

interface Answer { status: number; body: string }

/** One request: a refusal is read to its end; a 200 is a stream that never ends, so its first line is enough. */
function ask(s: ClientHttp2Session, path: string, body: string | Buffer, method = 'POST', end = true): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = s.request({ ':method': method, ':path': path, 'content-type': 'application/json' });
    let status = 0;
    let text = '';
    req.setEncoding('utf8');
    req.on('response', (h) => { status = Number(h[':status']); });
    req.on('data', (d: string) => {
      text += d;
      if (status === 200 && text.includes('\n')) { req.close(); resolve({ status, body: text }); }
    });
    req.on('end', () => resolve({ status, body: text }));
    req.on('error', reject);
    if (end) req.end(body);
    else req.write(body);
  });
}

/** The oracle: a stream for a request that is valid after all, or a 4xx naming its reason. */
function check(r: Answer, what: string): void {
  if (r.status === 200) return;
  assert.ok(r.status >= 400 && r.status < 500, `${what}: answered ${r.status}: ${r.body.slice(0, 300)}`);
  const parsed = JSON.parse(r.body) as { error?: unknown; message?: unknown };
  assert.equal(typeof parsed.error, 'string', `${what}: no reason code in ${r.body.slice(0, 200)}`);
  assert.ok(typeof parsed.message === 'string' && parsed.message.length > 10, `${what}: no message saying what to fix`);
}

const HOSTILE_TARGETS = ['', ':', '[]:80', '[::1', '10.0.0.1:0', '10.0.0.1:99999', '10.0.0.1:-1', 'a'.repeat(299) + ':1', '🦀.shop.svc.cluster.local:80',
  'web.shop.svc.cluster.local.:80', '%00:80', '[zz::1]:80', '1.2.3.4.5:80', 'web..svc.cluster.local:80', '\u202e:80', '~1/~0:80'];

function hostileTarget(rnd: Random): string {
  return JSON.stringify({ target: rnd.pick(HOSTILE_TARGETS), ...(rnd.chance(0.3) ? { namespace: rnd.pick(['shop', '', 'x'.repeat(64), '/']) } : {}) });
}

const ENDPOINTS = [
  { path: WATCH_PATH, valid: { target: '10.96.0.10:80', namespace: 'shop' } },
  { path: INBOUND_PATH, valid: { namespace: 'shop', pod: 'web-1' } },
] as const;

for (const e of ENDPOINTS) {
  test(`${e.path}: hostile bodies get a stream or a 4xx with a reason code; the server keeps serving and counts them`, async () => {
    const before = await refusals();
    const s = session();
    await forEachCase(SEED + e.path.length * 1000, 300, async (rnd, i) => {
      const c = e.path === WATCH_PATH && rnd.chance(0.2) ? { mutation: 'hostile target', body: hostileTarget(rnd) } : mutatedJson(e.valid, rnd);
      check(await ask(s, e.path, c.body), `case ${i} [${c.mutation}] ${JSON.stringify(c.body.slice(0, 80))}`);
    }, 10);
    for (const [what, body] of [
      ['huge', JSON.stringify({ ...e.valid, pad: 'x'.repeat(1 << 20) })],
      ['deep nesting', deepJson(MAX_BODY / 2 - 1)],
      ['empty', ''],
      ['binary', Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x22])],
      ['array', '[]'],
      ['null', 'null'],
    ] as const) {
      const r = await ask(s, e.path, body);
      check(r, what);
      assert.notEqual(r.status, 200, `${what}: accepted`);
    }
    check(await ask(s, e.path, JSON.stringify(e.valid), 'PUT'), 'PUT');
    const ok = await ask(session(), e.path, JSON.stringify(e.valid));
    assert.equal(ok.status, 200, `a valid request is served after the fuzz: ${ok.body}`);
    assert.ok(await refusals() - before > 100, 'refusals are counted by reason');
  });
}

test('many half-open streams (body never finished) each get 408 at the body timeout; the server serves a valid watch after', async () => {
  const before = await refusals('body_timeout');
  // Five connections at the per-connection stream limit (100), each stream sending half a body and waiting.
  const answers = await Promise.all(Array.from({ length: 5 }, () => session()).flatMap((s) =>
    Array.from({ length: 100 }, () => ask(s, WATCH_PATH, '{"target": "10.96', 'POST', false))));
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [408]);
  for (const a of answers) check(a, 'half-open stream');
  assert.equal(await refusals('body_timeout') - before, 500, 'every timed-out body is counted');
  assert.equal((await ask(session(), WATCH_PATH, '{"target": "10.96.0.10:80"}')).status, 200);
});

test('stalled and garbage TLS handshakes are dropped at the handshake timeout and counted', async () => {
  const before = await refusals('tls_handshake');
  const port = (server.address() as AddressInfo).port;
  const stalls = [
    Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), // a ClientHello header promising 512 bytes, then nothing
    Buffer.from([0x16, 0x03]),
    Buffer.from('GET / HTTP/1.1\r\nhost: x\r\n\r\n'),
    Buffer.alloc(0),
  ];
  const closed = await Promise.all(stalls.map((bytes) => new Promise<number>((resolve) => {
    const t0 = Date.now();
    const c = net.connect({ host: '127.0.0.1', port }, () => c.write(bytes));
    c.on('error', () => undefined);
    c.on('close', () => resolve(Date.now() - t0));
    // Bounds the test, not the server: the assertion below is on who closed.
    setTimeout(() => c.destroy(new Error('still open')), HANDSHAKE_TIMEOUT_MS * 20).unref();
  })));
  for (const ms of closed) assert.ok(ms < HANDSHAKE_TIMEOUT_MS * 20, 'the server closed the connection');
  assert.ok(await refusals('tls_handshake') - before >= 3, 'refused handshakes are counted');
  assert.equal((await ask(session(), WATCH_PATH, '{"target": "10.96.0.10:80"}')).status, 200);
});

async function refusals(reason?: string): Promise<number> {
  return (await metrics.errors.get()).values.filter((v) => reason === undefined || v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
}
