// relayOverH2 against a real h2 server on loopback that refuses streams the
// way a draining peer proxy does (RST_STREAM REFUSED_STREAM, or a GOAWAY
// whose last-stream-id is below the request's stream): such a request never
// reached the app, so the relay hands it back for another endpoint whatever
// its method; a stream reset after the peer took it is not handed back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2, { constants as h2 } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { relayOverH2, requestHead, type Outcome, type RetryGate } from './relay.ts';

/** A gate that allows what the test says, and counts what it was asked. */
class Gate implements RetryGate {
  asked = { unsent: 0, shouldRetry: 0 };
  readonly #allowUnsent: boolean;
  constructor(allowUnsent: boolean) { this.#allowUnsent = allowUnsent; }
  shouldRetry(): boolean { this.asked.shouldRetry++; return false; }
  unsent(): boolean { this.asked.unsent++; return this.#allowUnsent; }
}

type Refusal = (stream: http2.ServerHttp2Stream, session: http2.ServerHttp2Session) => void;

/**
 * An h2 upstream applying `refuse` to every stream, and a downstream HTTP/1.1
 * server relaying each request over one client session to it. Returns what a
 * client saw and the relay's outcome.
 */
async function relayThrough(refuse: Refusal, gate: Gate, request: { method: string; body?: string; buffered?: boolean }): Promise<{ status: number; proxyError: string | undefined; outcome: Outcome }> {
  const upstream = http2.createServer();
  // Stream 1 is a warm-up answered normally, so the request under test is not the session's first.
  upstream.on('stream', (stream) => {
    stream.on('error', () => undefined);
    if (stream.id === 1) stream.respond({ ':status': 200 }, { endStream: true });
    else refuse(stream, stream.session as http2.ServerHttp2Session);
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const session = http2.connect(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
  session.on('error', () => undefined);
  const warmUp = session.request({ ':path': '/' }, { endStream: true });
  warmUp.resume();
  await once(warmUp, 'end');
  let outcome: Outcome | undefined;
  const down = http.createServer((req, res) => {
    const body = request.buffered && request.body !== undefined ? Buffer.from(request.body) : undefined;
    void relayOverH2(session, requestHead(req), req, res, { body, retry: gate }).then((o) => {
      outcome = o;
      // What the caller (balance.ts send) does with a handed-back request once no endpoint is left.
      if (o.retried) res.writeHead(299).end();
    });
  });
  down.listen(0, '127.0.0.1');
  await once(down, 'listening');
  try {
    const answer = await fetch(`http://127.0.0.1:${(down.address() as AddressInfo).port}/`, {
      method: request.method, ...(request.body === undefined ? {} : { body: request.body, headers: { 'content-length': String(request.body.length) } }),
    });
    await answer.arrayBuffer();
    assert.ok(outcome, 'the relay resolved');
    return { status: answer.status, proxyError: answer.headers.get('skein-proxy-error') ?? undefined, outcome };
  } finally {
    session.destroy();
    down.close();
    upstream.close();
    down.closeAllConnections();
  }
}

const rstRefused: Refusal = (stream) => stream.close(h2.NGHTTP2_REFUSED_STREAM);
/** The drain race: the peer sends GOAWAY naming a last stream below this one (it never processed it). */
const goawayBelow: Refusal = (stream, session) => session.goaway(h2.NGHTTP2_NO_ERROR, 1);
/** The peer took the stream, then reset it: the app may have seen the request. */
const resetAfterProcessing: Refusal = (stream) => stream.close(h2.NGHTTP2_INTERNAL_ERROR);

test('a stream refused with REFUSED_STREAM is handed back for another endpoint, even a POST, and nothing reaches the client', async () => {
  const gate = new Gate(true);
  const r = await relayThrough(rstRefused, gate, { method: 'POST', body: '{"n":1}', buffered: true });
  assert.equal(r.outcome.retried, true);
  assert.equal(gate.asked.unsent, 1);
  assert.equal(r.status, 299, 'the caller, not the relay, answered');
});

test('a stream above a GOAWAY\'s last-stream-id (a draining peer) is handed back for another endpoint', async () => {
  const gate = new Gate(true);
  const r = await relayThrough(goawayBelow, gate, { method: 'GET' });
  assert.equal(r.outcome.retried, true);
  assert.equal(gate.asked.unsent, 1);
});

test('a refused stream is answered 502 upstream_reset when the retry gate says no (attempts or budget spent)', async () => {
  const gate = new Gate(false);
  const r = await relayThrough(rstRefused, gate, { method: 'GET' });
  assert.equal(r.outcome.retried, undefined);
  assert.equal(r.status, 502);
  assert.equal(r.proxyError, 'upstream_reset');
});

test('a refused stream whose body was streamed from the client (not buffered) is not handed back: the body is partly consumed', async () => {
  const gate = new Gate(true);
  const r = await relayThrough(rstRefused, gate, { method: 'POST', body: '{"n":1}' });
  assert.equal(gate.asked.unsent, 0);
  assert.equal(r.status, 502);
});

test('a stream reset after the peer took it is not treated as unprocessed', async () => {
  const gate = new Gate(true);
  const r = await relayThrough(resetAfterProcessing, gate, { method: 'POST', body: '{"n":1}', buffered: true });
  assert.equal(gate.asked.unsent, 0, 'only the route\'s retry policy may decide');
  assert.equal(gate.asked.shouldRetry, 1);
  assert.equal(r.status, 502);
});

test('a session that already received GOAWAY: the request never leaves, and is handed back', async () => {
  const gate = new Gate(true);
  const upstream = http2.createServer();
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const session = http2.connect(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
  await once(session, 'connect');
  session.close();
  const down = http.createServer((req, res) => {
    void relayOverH2(session, requestHead(req), req, res, { retry: gate }).then((o) => res.writeHead(o.retried ? 299 : 500).end());
  });
  down.listen(0, '127.0.0.1');
  await once(down, 'listening');
  try {
    const answer = await fetch(`http://127.0.0.1:${(down.address() as AddressInfo).port}/`);
    assert.equal(answer.status, 299);
    assert.equal(gate.asked.unsent, 1);
  } finally {
    session.destroy();
    down.close();
    upstream.close();
    down.closeAllConnections();
  }
});
