import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrProblem } from './authorizationpolicy.ts';

test('CIDRs: v4 and v6, prefix within the family', () => {
  for (const ok of ['10.0.0.0/8', '0.0.0.0/0', '192.168.1.7/32', '::/0', '2001:db8::/32', '::1/128']) assert.equal(cidrProblem(ok), undefined, ok);
  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0', '/8', '10.0.0.0/08x', '']) assert.match(cidrProblem(bad) ?? '', /is not a CIDR/, bad);
});
