import assert from 'node:assert/strict';
import test from 'node:test';
import { bodyScanner, forwardHeaders, H1Error, parseRequestHead, parseResponseHead, type H1ErrorCode } from './codec.ts';

const b = (s: string) => Buffer.from(s, 'latin1');

test('a request head: method, target, headers in order and by lower-case name, framing, keep-alive', () => {
  const raw = b('POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\nSet-Cookie: c\r\n\r\nhello');
  const p = parseRequestHead(raw, 0);
  assert.ok(p);
  assert.equal(p.head.method, 'POST');
  assert.equal(p.head.target, '/a?b=1');
  assert.deepEqual(p.head.raw, ['Host', 'x', 'Content-Length', '5', 'X-A', '1', 'x-a', '2', 'Set-Cookie', 'c']);
  assert.equal(p.head.headers['x-a'], '1, 2');
  assert.deepEqual(p.head.headers['set-cookie'], ['c']);
  assert.deepEqual(p.head.framing, { kind: 'length', length: 5 });
  assert.equal(p.head.keepAlive, true);
  assert.equal(raw.toString('latin1', p.end), 'hello');
});

test('incomplete heads wait for more bytes; a head over the limit is refused with 431 before its end arrives', () => {
  assert.equal(parseRequestHead(b('GET / HTTP/1.1\r\nHost: x\r\n'), 0), undefined);
  const big = b(`GET / HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(2000)}`);
  assert.throws(() => parseRequestHead(big, 0, { maxHeaderBytes: 1024, maxHeaders: 10 }), (e: H1Error) => e.code === 'header_too_large' && e.status === 431);
  const many = b(`GET / HTTP/1.1\r\nHost: x\r\n${'a: 1\r\n'.repeat(11)}\r\n`);
  assert.throws(() => parseRequestHead(many, 0, { maxHeaderBytes: 1024, maxHeaders: 10 }), (e: H1Error) => e.code === 'too_many_headers' && e.status === 431);
});

test('keep-alive: HTTP/1.1 unless Connection: close; HTTP/1.0 only with keep-alive; upgrade and 100-continue recognised', () => {
  assert.equal(parseRequestHead(b('GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n'), 0)?.head.keepAlive, false);
  assert.equal(parseRequestHead(b('GET / HTTP/1.0\r\n\r\n'), 0)?.head.keepAlive, false);
  assert.equal(parseRequestHead(b('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'), 0)?.head.keepAlive, true);
  const up = parseRequestHead(b('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n'), 0);
  assert.equal(up?.head.upgrade, true);
  assert.equal(parseRequestHead(b('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n'), 0)?.head.upgrade, false);
  assert.equal(parseRequestHead(b('PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n'), 0)?.head.expectContinue, true);
});

/** The hostile corpus: each must be refused with the named code, never parsed into something a second reader would frame differently. */
const HOSTILE: [string, string, H1ErrorCode][] = [
  ['CL + TE (CL.TE smuggling)', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n', 'content_length_with_transfer_encoding'],
  ['TE + CL (TE.CL smuggling)', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n', 'content_length_with_transfer_encoding'],
  ['duplicate Content-Length, same value', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n', 'duplicate_content_length'],
  ['duplicate Content-Length, different values', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n', 'duplicate_content_length'],
  ['Content-Length list', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 4\r\n\r\n', 'bad_content_length'],
  ['signed Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\n', 'bad_content_length'],
  ['hex Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x4\r\n\r\n', 'bad_content_length'],
  ['huge Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n', 'bad_content_length'],
  ['obs-fold', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n', 'obs_fold'],
  ['obs-fold with tab', 'GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\tchunked\r\n\r\n', 'obs_fold'],
  ['bare LF in headers', 'GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n', 'bare_lf'],
  ['bare LF line ends throughout', 'GET / HTTP/1.1\nHost: x\n\n', 'bare_lf'],
  ['bare CR', 'GET / HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n', 'bare_cr'],
  ['space before the colon', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 4\r\n\r\n', 'bad_header'],
  ['empty header name', 'GET / HTTP/1.1\r\nHost: x\r\n: 4\r\n\r\n', 'bad_header'],
  ['NUL in a value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n', 'bad_header'],
  ['TE not ending in chunked', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 'bad_transfer_encoding'],
  ['TE chunked twice', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', 'bad_transfer_encoding'],
  ['TE with a quoted coding', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "chunked"\r\n\r\n', 'bad_transfer_encoding'],
  ['TE in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 'bad_transfer_encoding'],
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\nX: 1\r\n\r\n', 'missing_host'],
  ['two spaces in the request line', 'GET  / HTTP/1.1\r\nHost: x\r\n\r\n', 'bad_request_line'],
  ['HTTP/2.0 in the request line', 'GET / HTTP/2.0\r\nHost: x\r\n\r\n', 'bad_request_line'],
  ['lower-case version', 'GET / http/1.1\r\nHost: x\r\n\r\n', 'bad_request_line'],
  ['control byte in the target', 'GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n', 'bad_request_line'],
];

for (const [name, text, code] of HOSTILE) {
  test(`hostile request refused: ${name} → ${code}`, () => {
    assert.throws(() => parseRequestHead(b(text), 0), (e: unknown) => e instanceof H1Error && e.code === code && e.status === 400);
  });
}

test('chunked bodies: the scanner finds the end across any split, extensions and trailers included, and never past it', () => {
  const body = '5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n';
  const next = 'GET /next HTTP/1.1\r\n';
  const all = b(body + next);
  for (let cut = 0; cut <= body.length; cut++) {
    const s = bodyScanner({ kind: 'chunked' });
    const first = s.scan(all.subarray(0, cut), 0);
    const end = first >= 0 ? first : s.scan(all.subarray(cut), 0) + cut;
    assert.equal(end, body.length, `split at ${cut}`);
    assert.equal(s.done, true);
  }
});

const BAD_CHUNKS: [string, string][] = [
  ['no size', '\r\nhello\r\n0\r\n\r\n'],
  ['size with a sign', '+5\r\nhello\r\n0\r\n\r\n'],
  ['data longer than its size', '3\r\nhello\r\n0\r\n\r\n'],
  ['bare LF after the size', '5\nhello\r\n0\r\n\r\n'],
  ['size overflow', 'ffffffffffffffff\r\n'],
  ['folded trailer', '0\r\nX: 1\r\n continued\r\n\r\n'],
  ['bare LF in a trailer', '0\r\nX: 1\n\r\n'],
];

for (const [name, text] of BAD_CHUNKS) {
  test(`hostile chunked body refused: ${name}`, () => {
    assert.throws(() => bodyScanner({ kind: 'chunked' }).scan(b(text), 0), H1Error);
  });
}

test('trailers over the limit are refused', () => {
  assert.throws(() => bodyScanner({ kind: 'chunked' }, 16).scan(b(`0\r\nX: ${'a'.repeat(40)}\r\n\r\n`), 0), (e: H1Error) => e.code === 'trailers_too_large');
});

test('Content-Length bodies end after exactly that many bytes; the rest is the next message', () => {
  const s = bodyScanner({ kind: 'length', length: 7 });
  assert.equal(s.scan(b('abc'), 0), -1);
  assert.equal(s.scan(b('defgGET'), 0), 4);
  assert.equal(s.done, true);
});

test('response framing: HEAD, 1xx, 204 and 304 have no body; chunked; length; otherwise until close (never kept alive)', () => {
  const r = (text: string, method = 'GET') => parseResponseHead(b(text), 0, method)?.head;
  assert.deepEqual(r('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', 'HEAD')?.framing, { kind: 'none' });
  assert.deepEqual(r('HTTP/1.1 204 No Content\r\n\r\n')?.framing, { kind: 'none' });
  assert.deepEqual(r('HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n')?.framing, { kind: 'none' });
  assert.deepEqual(r('HTTP/1.1 100 Continue\r\n\r\n')?.framing, { kind: 'none' });
  assert.deepEqual(r('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')?.framing, { kind: 'chunked' });
  assert.deepEqual(r('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n')?.framing, { kind: 'length', length: 3 });
  const close = r('HTTP/1.1 200 OK\r\n\r\n');
  assert.deepEqual(close?.framing, { kind: 'close' });
  assert.equal(close?.keepAlive, false);
  assert.equal(r('HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n')?.reason, '');
  assert.throws(() => r('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n'), H1Error);
  assert.throws(() => r('HTTP/1.1 20 OK\r\n\r\n'), (e: H1Error) => e.code === 'bad_status_line');
});

test('forwarded headers: hop-by-hop and Connection-named headers dropped, TE: trailers kept, Upgrade only when upgrading', () => {
  const raw = ['Host', 'x', 'Connection', 'keep-alive, X-Secret', 'Keep-Alive', 'timeout=5', 'X-Secret', 's', 'TE', 'trailers, deflate', 'Upgrade', 'websocket', 'Transfer-Encoding', 'chunked', 'X-A', '1'];
  assert.equal(forwardHeaders(raw, 'keep-alive, X-Secret'), 'Host: x\r\nte: trailers\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n');
  assert.equal(forwardHeaders(raw, 'keep-alive, X-Secret', { upgrade: true, extra: { 'skein-client-id': 'a' } }), 'Host: x\r\nte: trailers\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nskein-client-id: a\r\nconnection: upgrade\r\n');
  assert.equal(forwardHeaders(['Host', 'x', 'skein-client-id', 'forged'], undefined, { drop: new Set(['skein-client-id']), close: true }), 'Host: x\r\nconnection: close\r\n');
});
