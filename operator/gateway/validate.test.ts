import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateRoute } from './validate.ts';
import { route, svcParent } from './test-routes.ts';

const problems = (kind: 'HTTPRoute' | 'GRPCRoute', rules: unknown[]) => {
  const v = validateRoute(kind, route('r', { parentRefs: [svcParent('web')], rules }));
  return v.ok ? [] : v.problems;
};

test('a route with every supported feature is usable', () => {
  assert.deepEqual(problems('HTTPRoute', [{
    matches: [{ path: { type: 'RegularExpression', value: '/api/v[0-9]+(/[^/]+)*' }, headers: [{ type: 'RegularExpression', name: 'x', value: 'a|b' }], queryParams: [{ name: 'q', value: '1' }], method: 'GET' }],
    filters: [
      { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'a', value: 'b' }] } },
      { type: 'ResponseHeaderModifier', responseHeaderModifier: { remove: ['c'] } },
      { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } },
      { type: 'RequestMirror', requestMirror: { backendRef: { name: 'm', port: 80 } } },
    ],
    timeouts: { request: '10s', backendRequest: '2s' }, retry: { codes: [503], attempts: 2, backoff: '100ms' },
  }]), []);
  assert.deepEqual(problems('GRPCRoute', [{ matches: [{ method: { type: 'RegularExpression', service: 'echo\\..*' } }] }]), []);
});

test('a regex that cannot compile, or that repeats a repetition, says where and what to fix', () => {
  const [bad] = problems('HTTPRoute', [{ matches: [{ path: { type: 'RegularExpression', value: '/(a' } }] }]);
  assert.match(bad!, /^spec\.rules\[0\]\.matches\[0\]\.path\.value "\/\(a": it does not compile/);
  const [nested] = problems('HTTPRoute', [{ matches: [{ headers: [{ type: 'RegularExpression', name: 'x', value: '(a+)+b' }] }] }]);
  assert.match(nested!, /^spec\.rules\[0\]\.matches\[0\]\.headers\[0\]\.value "\(a\+\)\+b": .*repeat/);
  const [backref] = problems('GRPCRoute', [{ matches: [{ method: { type: 'RegularExpression', method: '(a)\\1' } }] }]);
  assert.match(backref!, /^spec\.rules\[0\]\.matches\[0\]\.method\.method/);
  assert.deepEqual(problems('HTTPRoute', [{ matches: [{ path: { type: 'Exact', value: '/(a' } }] }]), [], 'only RegularExpression values are regexes');
});

test('filters Skein does not implement, per-backend filters and unreadable durations are refused with what to do', () => {
  const p = problems('HTTPRoute', [{
    filters: [{ type: 'CORS', cors: {} }],
    backendRefs: [{ name: 'b', port: 80, filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: {} }] }],
    timeouts: { request: 'soon' },
  }]);
  assert.equal(p.length, 3);
  assert.match(p[0]!, /spec\.rules\[0\]\.filters\[0\]\.type CORS is not supported by Skein .*remove the filter/);
  assert.match(p[1]!, /backendRefs\[0\]\.filters: per-backend filters are not supported/);
  assert.match(p[2]!, /timeouts\.request "soon" is not a duration/);
});
