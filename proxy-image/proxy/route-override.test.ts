import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Update } from '../../api/discovery-protocol.ts';
import { overrideTarget, parseRouteOverride } from './route-override.ts';

const books: Update = { type: 'update', exists: true, opaque: false, endpoints: [], service: { name: 'books', namespace: 'shop', port: 7000 } };

test('parses `a => b`, ignores anything else', () => {
  assert.deepEqual(parseRouteOverride(' Books => books-staging '), { from: 'books', to: 'books-staging' });
  assert.equal(parseRouteOverride('books -> staging'), undefined);
  assert.equal(parseRouteOverride('books => '), undefined);
  assert.equal(parseRouteOverride('books => a b'), undefined);
  assert.equal(parseRouteOverride(['a => b']), undefined);
  assert.equal(parseRouteOverride(undefined), undefined);
});

test('short and full names resolve against the destination namespace, same port', () => {
  const t = (v: string) => overrideTarget(parseRouteOverride(v)!, books, 'cluster.local');
  assert.equal(t('books => books-staging'), 'books-staging.shop.svc.cluster.local:7000');
  assert.equal(t('books.shop.svc.cluster.local => books-staging.shop.svc.cluster.local'), 'books-staging.shop.svc.cluster.local:7000');
  assert.equal(t('books.shop => books-staging.dev'), 'books-staging.dev.svc.cluster.local:7000');
  assert.equal(t('authors => authors-staging'), undefined, 'another Service: ignored');
  assert.equal(t('books.other => x'), undefined, 'same name, other namespace: ignored');
  assert.equal(t('books => books'), undefined);
  assert.equal(overrideTarget({ from: 'books', to: 'x' }, undefined, 'cluster.local'), undefined);
});
