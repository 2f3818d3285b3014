import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_INBOUND_POLICIES, DEFAULT_INBOUND_POLICY_ANNOTATION, cidrProblem, type DefaultInboundPolicy } from './authorizationpolicy.ts';
import { resolveConfig, DEFAULTS, type ProxyConfig } from '../../webhook/inject/config.ts';

// Both directions: the injector's type and this list name the same values.
const fromInjector: DefaultInboundPolicy = DEFAULTS.defaultInboundPolicy;
const toInjector: ProxyConfig['defaultInboundPolicy'] = DEFAULT_INBOUND_POLICIES[0];

test('the default inbound policy annotation and its values are the ones the injector hands to the proxy', () => {
  assert.ok(DEFAULT_INBOUND_POLICIES.includes(fromInjector) && toInjector === 'all-unauthenticated');
  for (const value of DEFAULT_INBOUND_POLICIES) {
    const { config, problems } = resolveConfig({}, { [DEFAULT_INBOUND_POLICY_ANNOTATION]: value });
    assert.deepEqual(problems, [], value);
    assert.equal(config.defaultInboundPolicy, value);
  }
  assert.equal(resolveConfig({}, { [DEFAULT_INBOUND_POLICY_ANNOTATION]: 'audit' }).problems.length, 1, 'a value outside the list is one the injector refuses too');
});

test('CIDRs: v4 and v6, prefix within the family', () => {
  for (const ok of ['10.0.0.0/8', '0.0.0.0/0', '192.168.1.7/32', '::/0', '2001:db8::/32', '::1/128']) assert.equal(cidrProblem(ok), undefined, ok);
  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0', '/8', '10.0.0.0/08x', '']) assert.match(cidrProblem(bad) ?? '', /is not a CIDR/, bad);
});
