import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateHTTPRouteGroup } from './httproutegroup.ts';
import { RULES } from '../validate.ts';

const group = (spec: object) => ({ apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', metadata: { name: 'ab' }, spec });

test('a Flagger-style header match, methods with the * wildcard and a path regex pass', () => {
  assert.deepEqual(validateHTTPRouteGroup(group({ matches: [
    { name: 'canary', headers: { 'x-canary': 'yes', 'user-agent': '.*Firefox.*' } },
    { name: 'api', methods: ['GET', '*'], pathRegex: '/api/[^/]+' },
  ] })), []);
  assert.deepEqual(validateHTTPRouteGroup(group({})), [], 'a group without matches is admitted; a TrafficSplit naming it reports it');
});

test('regexes the proxy could not run safely and duplicate names are refused, each naming its field', () => {
  const cases: [object, RegExp][] = [
    [{ matches: [{ name: 'a', pathRegex: '(' }] }, /^spec\.matches\[0\]\.pathRegex: pathRegex "\(": it does not compile/],
    [{ matches: [{ name: 'a', headers: { 'x-canary': '(a+)+' } }] }, /^spec\.matches\[0\]\.headers\.x-canary: header regex "\(a\+\)\+": .*exponential/],
    [{ matches: [{ name: 'a', headers: { 'bad header': 'x' } }] }, /^spec\.matches\[0\]\.headers\.bad header: "bad header" is not a header name/],
    [{ matches: [{ name: 'a', methods: ['GET POST'] }] }, /^spec\.matches\[0\]\.methods\[0\]: method must be an HTTP method/],
    [{ matches: [{ name: 'a' }, { name: 'a' }] }, /^spec\.matches\[1\]\.name: match name "a" is already used by matches\[0\]/],
  ];
  for (const [spec, message] of cases) assert.match(validateHTTPRouteGroup(group(spec)).join('\n'), message, JSON.stringify(spec));
});

test('/validate routes HTTPRouteGroup to these rules', () => {
  assert.equal(RULES['specs.smi-spec.io/HTTPRouteGroup'], validateHTTPRouteGroup);
});
