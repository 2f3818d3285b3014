import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  acceptResponse, CAPABILITIES_HEADER, MIN_VERSION_HEADER, negotiate, negotiateRequest, OWN_RANGE, peerRange, PROTOCOL_VERSION,
  requestHeaders, responseHeaders, SkewError, UNVERSIONED, VERSION_HEADER,
} from './discovery-version.ts';

const skew = (code: string, message: RegExp) => (err: unknown) => err instanceof SkewError && err.code === code && message.test(err.message);

test('a peer without version headers predates negotiation: version 1, which this build still serves and reads', () => {
  assert.deepEqual(peerRange({}), { min: UNVERSIONED, max: UNVERSIONED });
  assert.deepEqual(negotiateRequest({}), { version: 1, capabilities: [] });
  assert.equal(acceptResponse({ ':status': '200' }).version, 1);
});

test('two current peers speak the current version and keep the capabilities both know', () => {
  const n = negotiateRequest({ ...requestHeaders(), [CAPABILITIES_HEADER]: 'version-negotiation, http-route-v9 ,VERSION-NEGOTIATION' });
  assert.deepEqual(n, { version: PROTOCOL_VERSION, capabilities: ['version-negotiation'] }, 'an unknown capability is dropped, duplicates and case folded');
  assert.deepEqual(acceptResponse(responseHeaders(n)), n);
});

test('control plane one version ahead of the proxy: served at the proxy\'s version', () => {
  const server = { min: PROTOCOL_VERSION, max: PROTOCOL_VERSION + 1 };
  assert.equal(negotiateRequest({ [VERSION_HEADER]: String(PROTOCOL_VERSION), [MIN_VERSION_HEADER]: '1' }, server).version, PROTOCOL_VERSION);
});

test('a proxy newer than the control plane (rollout in progress) speaks the older version when its window reaches it', () => {
  assert.equal(negotiate(OWN_RANGE, { min: 1, max: PROTOCOL_VERSION + 3 }, 'server'), PROTOCOL_VERSION);
  // The client side of the same: a server stating an older version inside the window.
  assert.equal(acceptResponse({ [VERSION_HEADER]: '1' }).version, 1);
});

test('ranges that do not meet are refused with protocol_version_unsupported, naming the side to upgrade', () => {
  // A proxy too old: the control plane dropped its version.
  assert.throws(() => negotiateRequest({}, { min: 2, max: 3 }), skew('protocol_version_unsupported', /control plane speaks 2-3, the proxy 1-1; the proxy is too old/));
  // A control plane too old for the proxy.
  assert.throws(() => negotiateRequest({ [VERSION_HEADER]: '5', [MIN_VERSION_HEADER]: '4' }), skew('protocol_version_unsupported', /upgrade the control plane first/));
  // The proxy's side: a server stating a version this build no longer reads, or one not yet known.
  assert.throws(() => acceptResponse({ [VERSION_HEADER]: '1' }, { min: 2, max: 2 }), skew('protocol_version_unsupported', /control plane speaks 1-1, the proxy 2-2/));
  assert.throws(() => acceptResponse({ [VERSION_HEADER]: '9' }), skew('protocol_version_unsupported', /control plane speaks 9-9/));
});

test('malformed version headers get protocol_version_malformed, never a crash or a guess', () => {
  for (const bad of ['two', '-1', '0', '1.5', '99999999', ' 2x']) {
    assert.throws(() => negotiateRequest({ [VERSION_HEADER]: bad }), skew('protocol_version_malformed', /skein-discovery-version .* must be a positive integer/), bad);
  }
  assert.throws(() => negotiateRequest({ [VERSION_HEADER]: '1', [MIN_VERSION_HEADER]: '2' }), skew('protocol_version_malformed', /is above/));
  assert.throws(() => acceptResponse({ [VERSION_HEADER]: 'v2' }), skew('protocol_version_malformed', /positive integer/));
});

test('capability lists are bounded and only well-formed names count', () => {
  const many = Array.from({ length: 200 }, (_, i) => `c${i}`).join(',');
  assert.equal(negotiateRequest({ [CAPABILITIES_HEADER]: many }, OWN_RANGE, Array.from({ length: 200 }, (_, i) => `c${i}`)).capabilities.length, 64);
  assert.deepEqual(negotiateRequest({ [CAPABILITIES_HEADER]: 'a b,<x>,,ok-1' }, OWN_RANGE, ['ok-1', 'a b']).capabilities, ['ok-1']);
});
