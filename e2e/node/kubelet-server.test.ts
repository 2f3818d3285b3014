import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLogPath, tail } from './kubelet-server.ts';

test('log paths and queries parse as the API server sends them', () => {
  const p = parseLogPath('/containerLogs/shop/web-1/proxy?follow=true&tailLines=10&previous=true');
  assert.deepEqual(p, { namespace: 'shop', pod: 'web-1', container: 'proxy', query: { follow: true, tailLines: 10, limitBytes: undefined, previous: true } });
  assert.equal(parseLogPath('/exec/shop/web-1/proxy'), undefined);
  assert.equal(parseLogPath('/containerLogs/shop/web-1'), undefined);
});

test('tail keeps the last lines and the final newline', () => {
  assert.equal(tail('a\nb\nc\n', 2), 'b\nc\n');
  assert.equal(tail('a\nb\nc', 1), 'c');
  assert.equal(tail('a\nb\n', 0), '');
  assert.equal(tail('a\nb\n', undefined), 'a\nb\n');
});
