import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorResponse, ProxyError, toProxyError } from './errors.ts';

const withCode = (code: string) => Object.assign(new Error(code), { code });

test('what Node reports maps to the proxy codes and their statuses', () => {
  const cases: [string, string, number][] = [
    ['ECONNREFUSED', 'connect_failed', 502],
    ['ETIMEDOUT', 'connect_timeout', 504],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'peer_identity_mismatch', 502],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tls_failed', 502],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'tls_failed', 502],
    ['ERR_HTTP2_STREAM_ERROR', 'upstream_reset', 502],
  ];
  for (const [code, expected, status] of cases) {
    const e = toProxyError(withCode(code));
    assert.equal(e.code, expected, code);
    assert.equal(e.status, status, code);
  }
  const own = new ProxyError('no_ready_endpoint');
  assert.equal(toProxyError(own), own);
  assert.equal(own.status, 503);
});

test('plain clients get the status, a text body and skein-proxy-error', () => {
  const r = errorResponse(new ProxyError('response_timeout'), { host: 'a' });
  assert.equal(r.status, 504);
  assert.equal(r.headers['skein-proxy-error'], 'response_timeout');
  assert.match(r.body ?? '', /did not answer in time/);
});

test('gRPC clients get a trailers-only answer with a grpc-status', () => {
  const r = errorResponse(new ProxyError('no_ready_endpoint', 'svc has none'), { 'content-type': 'application/grpc' });
  assert.equal(r.status, 200);
  assert.equal(r.body, undefined);
  assert.equal(r.headers['grpc-status'], '14');
  assert.equal(decodeURIComponent(r.headers['grpc-message'] ?? ''), 'the destination has no ready endpoint: svc has none');
  assert.equal(errorResponse(new ProxyError('connect_timeout'), { 'content-type': 'application/grpc' }).headers['grpc-status'], '4');
});
