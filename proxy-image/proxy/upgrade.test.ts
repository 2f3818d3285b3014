import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statusOf, upgradeRequestHead } from './upgrade.ts';
import { clientErrorResponse } from './http-front.ts';

test('the upgrade request head keeps the upgrade, the authority and end-to-end headers only', () => {
  const head = upgradeRequestHead({ method: 'GET', url: '/ws?a=1', headers: { host: 'chat:80', connection: 'Upgrade, keep-alive', upgrade: 'websocket', 'keep-alive': '1', 'sec-websocket-key': 'k' } }, { 'skein-client-id': 'web' });
  assert.equal(head, 'GET /ws?a=1 HTTP/1.1\r\nhost: chat:80\r\nupgrade: websocket\r\nsec-websocket-key: k\r\nconnection: upgrade\r\nskein-client-id: web\r\n\r\n');
});

test('status lines', () => {
  assert.equal(statusOf('HTTP/1.1 101 Switching Protocols'), 101);
  assert.equal(statusOf('HTTP/1.0 403 Forbidden'), 403);
  assert.equal(statusOf('SSH-2.0'), undefined);
});

test('rejected requests: 431 for oversized headers, 400 otherwise, marked as the proxy\'s', () => {
  assert.match(clientErrorResponse('HPE_HEADER_OVERFLOW'), /^HTTP\/1\.1 431 /);
  assert.match(clientErrorResponse('HPE_INVALID_HEADER_TOKEN'), /^HTTP\/1\.1 400 [^]*skein-proxy-error: malformed_request\r\n/);
});
