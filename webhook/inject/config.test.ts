import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_INBOUND_POLICIES } from '../../api/discovery-protocol.ts';
import { DEFAULT_INBOUND_POLICY_ANNOTATION } from '../../api/crds/authorizationpolicy.ts';
import { resolveConfig } from './config.ts';

test('the default-inbound-policy annotation takes every value the proxy and discovery know, and nothing else', () => {
  for (const value of DEFAULT_INBOUND_POLICIES) {
    const { config, problems } = resolveConfig({}, { [DEFAULT_INBOUND_POLICY_ANNOTATION]: value });
    assert.deepEqual(problems, [], value);
    assert.equal(config.defaultInboundPolicy, value);
  }
  const refused = resolveConfig({}, { [DEFAULT_INBOUND_POLICY_ANNOTATION]: 'audit' }).problems;
  assert.equal(refused.length, 1);
  assert.match(refused[0]?.message ?? '', /must be one of all-unauthenticated, all-authenticated, cluster-authenticated, deny/);
});
