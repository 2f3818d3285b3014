import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventBody } from './kube.ts';

test('an Event names the component as kubectl describe shows it and is cut to the API limit', () => {
  const now = new Date(0);
  const body = eventBody({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: 'shop' }, 'shop', { type: 'Warning', reason: 'NotMeshed', message: 'x'.repeat(2000) }, 'webhook', 'skein-webhook-1', now);
  assert.equal(body.metadata.generateName, 'web.skein-');
  assert.deepEqual({ source: body.source, reportingComponent: body.reportingComponent, reportingInstance: body.reportingInstance }, { source: { component: 'skein-webhook' }, reportingComponent: 'skein.dev/webhook', reportingInstance: 'skein-webhook-1' });
  assert.equal(body.message.length, 1024);
  assert.equal(body.count, 1);
});
