import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { allCrds, renderCrd, fileOf, structural } from './generate.ts';

test('every committed CRD file is what the zod schemas generate (run `node crds/generate.ts` after changing a schema)', async () => {
  for (const d of await allCrds()) {
    assert.ok(existsSync(fileOf(d)), `${fileOf(d)} is missing`);
    assert.equal(readFileSync(fileOf(d), 'utf8'), renderCrd(d), `${fileOf(d)} is stale`);
  }
});

test('structural schemas: int-or-string is bare, additionalProperties:false is dropped', () => {
  assert.deepEqual(structural({ anyOf: [{ type: 'string' }, { type: 'integer' }], 'x-kubernetes-int-or-string': true, description: 'w' }), { 'x-kubernetes-int-or-string': true, description: 'w' });
  assert.deepEqual(structural({ type: 'object', properties: { a: { type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER } }, additionalProperties: false }),
    { type: 'object', properties: { a: { type: 'integer' } } });
});

test('no CRD carries a caBundle or anything random', async () => {
  for (const d of await allCrds()) assert.doesNotMatch(renderCrd(d), /caBundle|BEGIN CERTIFICATE/);
});

test('a date printer column only shows a past time: kubectl prints a date as an age, and a future one as <invalid>', async () => {
  for (const d of await allCrds()) {
    for (const c of d.printerColumns ?? []) {
      if (c.type === 'date') assert.equal(c.jsonPath, '.metadata.creationTimestamp', `${d.names.kind} column ${c.name} (${c.jsonPath}) may be in the future; make it a string`);
    }
  }
});
