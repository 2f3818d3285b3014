import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { validateServiceProfile } from './serviceprofile.ts';

const NAME = 'books.shop.svc.cluster.local';
const profile = (spec: object, name = NAME) => ({ apiVersion: 'skein.dev/v1alpha1', kind: 'ServiceProfile', metadata: { name, namespace: 'shop' }, spec });
const route = (extra: object = {}, condition: object = { method: 'GET', pathRegex: '/books/[^/]+' }) => ({ name: 'GET /books/{id}', condition, ...extra });
const problemsOf = (spec: object, name = NAME) => validateServiceProfile(profile(spec, name)).join('\n');

test('a sound profile passes, and so does the Linkerd one with only apiVersion changed', () => {
  assert.deepEqual(validateServiceProfile(profile({ routes: [route({ timeout: '300ms', isRetryable: true })], retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttl: '10s' } })), []);
  assert.deepEqual(validateServiceProfile(profile({})), [], 'a profile with no routes only names the Service');
  const linkerd = parse(readFileSync(join(import.meta.dirname, '../../api/crds/testdata/linkerd-serviceprofile.yaml'), 'utf8').replace('linkerd.io/v1alpha2', 'skein.dev/v1alpha1')) as Record<string, unknown>;
  assert.deepEqual(validateServiceProfile(linkerd), []);
});

test('a path regex that does not compile is refused where it is, at any depth, saying which engine', () => {
  assert.match(problemsOf({ routes: [route({}, { pathRegex: '/books/(' })] }), /^spec\.routes\[0\]\.condition\.pathRegex: pathRegex "\/books\/\(": it does not compile as a JavaScript RegExp, the engine the Skein proxy matches request paths with .*Unterminated group/);
  assert.match(problemsOf({ routes: [route({}, { all: [{ method: 'GET' }, { not: { pathRegex: '[' } }] })] }), /spec\.routes\[0\]\.condition\.all\[1\]\.not\.pathRegex: .*does not compile/);
  assert.match(problemsOf({ routes: [route({}, { any: [{ not: [{ pathRegex: '(a+)+' }] }] })] }), /spec\.routes\[0\]\.condition\.any\[0\]\.not\[0\]\.pathRegex: .*repeats a group that itself repeats/);
});

test('duplicate route names are refused, even beside other problems', () => {
  const problems = problemsOf({ routes: [route(), route({ timeout: 'soon' }), route()] });
  assert.match(problems, /spec\.routes\[1\]\.timeout: timeout "soon" is not a duration; write it like 300ms, 2s or 1m30s/);
  assert.match(problems, /spec\.routes\[2\]\.name: route name "GET \/books\/\{id\}" is already used by routes\[0\]; route names label metrics/);
});

test('timeouts, status ranges, retry budgets and ports out of range, each with what to write', () => {
  const cases: [object, RegExp][] = [
    [{ routes: [route({ timeout: '2 seconds' })] }, /spec\.routes\[0\]\.timeout: timeout "2 seconds" is not a duration/],
    [{ routes: [route({ timeout: '0s' })] }, /spec\.routes\[0\]\.timeout: timeout must be more than 0 and at most 24h/],
    [{ routes: [route({ timeout: '999999h' })] }, /at most 24h/],
    [{ routes: [route({ responseClasses: [{ condition: { status: { min: 599, max: 500 } }, isFailure: true }] })] }, /spec\.routes\[0\]\.responseClasses\[0\]\.condition\.status: status\.min is above status\.max, so no response matches; swap them/],
    [{ routes: [route({ responseClasses: [{ condition: { any: [{ status: { min: 200 } }, { status: { min: 504, max: 503 } }] } }] })] }, /responseClasses\[0\]\.condition\.any\[1\]\.status: status\.min is above status\.max/],
    [{ routes: [route({ responseClasses: [{ condition: { status: { min: 700 } } }] })] }, /condition\.status\.min: .*599/],
    [{ retryBudget: { retryRatio: 1.5 } }, /spec\.retryBudget\.retryRatio: .*1/],
    [{ retryBudget: { retryRatio: -0.1 } }, /spec\.retryBudget\.retryRatio: .*0/],
    [{ retryBudget: { ttl: '0s' } }, /spec\.retryBudget\.ttl: retryBudget\.ttl must be more than 0 and at most 1h/],
    [{ opaquePorts: ['99999'] }, /spec\.opaquePorts\[0\]: opaquePorts: "99999" is not a port \(1-65535\) or a range/],
    [{ routes: [route({}, {})] }, /spec\.routes\[0\]\.condition: a request condition needs at least one field; an empty one would match everything/],
    [{ routes: [route({}, { method: 'GET /' })] }, /spec\.routes\[0\]\.condition\.method: method must be an HTTP method such as GET/],
  ];
  for (const [spec, message] of cases) assert.match(problemsOf(spec), message, JSON.stringify(spec));
});

test('a name that is not a Service FQDN is refused with an example', () => {
  for (const name of ['books', 'books.shop', 'books.shop.cluster.local', 'Books.shop.svc.cluster.local', 'bücher.shop.svc.cluster.local', `${'a'.repeat(64)}.shop.svc.cluster.local`, `books.shop.svc.${'a.'.repeat(130)}local`]) {
    assert.match(problemsOf({}, name), /^metadata\.name: ".*" is not a Service FQDN; name the profile <service>\.<namespace>\.svc\.<cluster domain>, e.g\. books\.shop\.svc\.cluster\.local/, name);
  }
  assert.ok(problemsOf({}, `x.shop.svc.${'a.'.repeat(200)}local`).length < 400, 'a huge name is cut in the message');
  assert.equal(problemsOf({}, 'books.shop.svc.mesh.example.com'), '', 'any cluster domain');
});

test('hostile values: huge, control characters, unicode, too many', () => {
  assert.match(problemsOf({ routes: [route({ name: 'x'.repeat(100_000) })] }), /spec\.routes\[0\]\.name: .*256/);
  assert.match(problemsOf({ routes: [route({ name: 'GET /\n\u0000evil' })] }), /spec\.routes\[0\]\.name: route name must be printable text/);
  assert.equal(problemsOf({ routes: [route({ name: 'GET /b\u00fccher/{id} \u{1F4DA}' }, { pathRegex: '/b\u00fccher/[^/]+' })] }), '', 'unicode names and paths are fine');
  assert.match(problemsOf({ routes: [route({}, { pathRegex: '.'.repeat(5000) })] }), /spec\.routes\[0\]\.condition\.pathRegex: .*1024/);
  assert.match(problemsOf({ routes: Array.from({ length: 600 }, (_, i) => route({ name: `r${i}` })) }), /spec\.routes: .*512/);
  assert.match(problemsOf({ routes: [route({ timeout: '1'.repeat(100) + 's' })] }), /spec\.routes\[0\]\.timeout: .*64/);
  assert.match(problemsOf({ routes: 'all of them' }), /spec\.routes: .*array/);
  let nested: object = { method: 'GET' };
  for (let i = 0; i < 10_000; i++) nested = { not: nested };
  assert.match(problemsOf({ routes: [route({}, nested)] }), /conditions nest at most 5 levels/, 'a deep tree is refused without overflowing the stack');
});
