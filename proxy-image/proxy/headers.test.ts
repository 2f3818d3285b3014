import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorityOf, endToEndHeaders, isGrpc } from './headers.ts';

test('hop-by-hop headers, those Connection names, and pseudo-headers are dropped; TE keeps only trailers', () => {
  const out = endToEndHeaders({
    ':path': '/x', host: 'a', connection: 'keep-alive, X-Private', 'keep-alive': 'timeout=5', 'x-private': '1',
    'proxy-authorization': 'Basic x', 'transfer-encoding': 'chunked', upgrade: 'websocket', te: 'trailers, deflate',
    'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'],
  });
  assert.deepEqual(out, { te: 'trailers', 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] });
  assert.deepEqual(endToEndHeaders({ te: 'gzip' }), {}, 'TE without trailers is hop-by-hop');
});

test('authority from :authority (h2) or Host (h1); gRPC by content-type', () => {
  assert.equal(authorityOf({ ':authority': 'svc:80', host: 'other' }), 'svc:80');
  assert.equal(authorityOf({ host: 'svc' }), 'svc');
  assert.equal(authorityOf({}), undefined);
  assert.equal(isGrpc({ 'content-type': 'application/grpc+proto' }), true);
  assert.equal(isGrpc({ 'content-type': 'application/json' }), false);
});
