import { test } from 'node:test';
import assert from 'node:assert/strict';
import { natRestoreInput, multiportGroups, hasJump, skeinRules, type RuleOptions } from './rules.ts';

const OPTIONS: RuleOptions = {
  inboundPort: 4143, outboundPort: 4140, proxyUid: 2102,
  skipInboundPorts: [{ from: 4190, to: 4190 }, { from: 4191, to: 4191 }],
  skipOutboundPorts: [{ from: 25, to: 25 }, { from: 8000, to: 8100 }],
};

test('a fresh namespace gets our four chains, their rules and one jump per hook', () => {
  assert.equal(natRestoreInput(OPTIONS, ''), [
    '*nat',
    ':SKEIN_PREROUTING - [0:0]',
    ':SKEIN_INBOUND_REDIRECT - [0:0]',
    ':SKEIN_OUTPUT - [0:0]',
    ':SKEIN_OUTBOUND_REDIRECT - [0:0]',
    '-A SKEIN_INBOUND_REDIRECT -p tcp -m comment --comment "skein/redirect-inbound" -j REDIRECT --to-ports 4143',
    '-A SKEIN_OUTBOUND_REDIRECT -p tcp -m comment --comment "skein/redirect-outbound" -j REDIRECT --to-ports 4140',
    '-A SKEIN_PREROUTING -p tcp -m multiport --dports 4143,4190,4191 -m comment --comment "skein/skip-inbound-ports" -j RETURN',
    '-A SKEIN_PREROUTING -p tcp -m comment --comment "skein/inbound" -j SKEIN_INBOUND_REDIRECT',
    '-A SKEIN_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp -m owner --uid-owner 2102 -m comment --comment "skein/proxy-to-own-pod" -j SKEIN_PREROUTING',
    '-A SKEIN_OUTPUT -m owner --uid-owner 2102 -m comment --comment "skein/ignore-proxy-uid" -j RETURN',
    '-A SKEIN_OUTPUT -o lo -m comment --comment "skein/ignore-loopback" -j RETURN',
    '-A SKEIN_OUTPUT -p tcp -m multiport --dports 25,8000:8100 -m comment --comment "skein/skip-outbound-ports" -j RETURN',
    '-A SKEIN_OUTPUT -p tcp -m comment --comment "skein/outbound" -j SKEIN_OUTBOUND_REDIRECT',
    '-A PREROUTING -m comment --comment "skein/install-prerouting" -j SKEIN_PREROUTING',
    '-A OUTPUT -m comment --comment "skein/install-output" -j SKEIN_OUTPUT',
    'COMMIT',
    '',
  ].join('\n'));
});

test("the proxy uid is returned before anything can redirect it, except towards its own pod's IP, which goes the inbound way", () => {
  const lines = natRestoreInput(OPTIONS, '').split('\n').filter((l) => l.startsWith('-A SKEIN_OUTPUT '));
  assert.match(lines[0] ?? '', /^-A SKEIN_OUTPUT -o lo ! -d 127\.0\.0\.1\/32 -p tcp -m owner --uid-owner 2102 .*-j SKEIN_PREROUTING$/);
  assert.match(lines[1] ?? '', /--uid-owner 2102 .*-j RETURN$/);
});

test('for IPv6 the loopback left alone is ::1', () => {
  assert.match(natRestoreInput(OPTIONS, '', 6), /^-A SKEIN_OUTPUT -o lo ! -d ::1\/128 -p tcp -m owner --uid-owner 2102 /m);
});

test('jumps already in the table are not added again; our chains are always redeclared, which flushes them', () => {
  const current = [
    '*nat', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':SKEIN_OUTPUT - [0:0]',
    '-A PREROUTING -m comment --comment "skein/install-prerouting" -j SKEIN_PREROUTING',
    '-A OUTPUT -j SKEIN_OUTPUT', 'COMMIT',
  ].join('\n');
  const input = natRestoreInput(OPTIONS, current);
  assert.doesNotMatch(input, /^-A (PREROUTING|OUTPUT) /m);
  assert.match(input, /^:SKEIN_OUTPUT - \[0:0\]$/m);
});

test('only a jump from the right hook to exactly our chain counts', () => {
  assert.equal(hasJump('-A OUTPUT -j SKEIN_OUTPUT_OLD', 'OUTPUT', 'SKEIN_OUTPUT'), false);
  assert.equal(hasJump('-A PREROUTING -j SKEIN_OUTPUT', 'OUTPUT', 'SKEIN_OUTPUT'), false);
  assert.equal(hasJump('-A OUTPUT -j SKEIN_OUTPUT', 'OUTPUT', 'SKEIN_OUTPUT'), true);
});

test('no skipped outbound ports means no skip rule at all', () => {
  assert.doesNotMatch(natRestoreInput({ ...OPTIONS, skipOutboundPorts: [] }, ''), /skip-outbound-ports/);
});

test('port lists are split so that no multiport rule exceeds 15 ports, a range counting as two', () => {
  const sixteen = Array.from({ length: 16 }, (_, i) => ({ from: 1000 + i, to: 1000 + i }));
  const groups = multiportGroups(sixteen);
  assert.equal(groups.length, 2);
  assert.equal(groups[0]?.split(',').length, 15);
  assert.equal(groups[1], '1015');
  const ranges = Array.from({ length: 8 }, (_, i) => ({ from: 2000 + 10 * i, to: 2005 + 10 * i }));
  assert.deepEqual(multiportGroups(ranges).map((g) => g.split(',').length), [7, 1]);
  assert.deepEqual(multiportGroups([]), []);
});

test('skeinRules picks our chains, rules and jumps out of a full dump', () => {
  const dump = [
    ':OUTPUT ACCEPT [0:0]', ':KUBE-SERVICES - [0:0]', ':SKEIN_OUTPUT - [0:0]',
    '-A OUTPUT -j KUBE-SERVICES', '-A OUTPUT -j SKEIN_OUTPUT', '-A SKEIN_OUTPUT -o lo -j RETURN',
  ].join('\n');
  assert.deepEqual(skeinRules(dump), [':SKEIN_OUTPUT - [0:0]', '-A OUTPUT -j SKEIN_OUTPUT', '-A SKEIN_OUTPUT -o lo -j RETURN']);
});
