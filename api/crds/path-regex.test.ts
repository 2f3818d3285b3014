import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pathRegexProblem, compilePathRegex, MAX_PATH_REGEX_LENGTH } from './path-regex.ts';

test('the regexes Linkerd users write pass, and match the whole path', () => {
  for (const ok of ['/books', '/books/[^/]*', '/api/books/[^/]+/edit', '/authors/\\d+\\.json', '/v1/(users|groups)/[^/]+', '(/[^/]+)*', '/static/.*', '/a(\\.[a-z0-9]+)*', '/caf\u00e9/[^/]+', '(?:/[^/]*)+', '.*']) {
    assert.equal(pathRegexProblem(ok), undefined, ok);
  }
  const r = compilePathRegex('/books/[^/]+');
  assert.equal(r.test('/books/42'), true);
  assert.equal(r.test('/books/42/edit'), false, 'anchored at the end');
  assert.equal(r.test('/v2/books/42'), false, 'anchored at the start');
  assert.equal(compilePathRegex('/a|/b').test('/bc'), false, 'alternation stays inside the anchors');
});

test('a regex that does not compile is named with the engine and the reason', () => {
  assert.match(pathRegexProblem('/books/(') ?? '', /does not compile as a JavaScript RegExp.*Unterminated group/);
  assert.match(pathRegexProblem('[z-a]') ?? '', /does not compile.*out of order/i);
  assert.match(pathRegexProblem('*') ?? '', /does not compile/);
});

test('regexes that backtrack exponentially are refused, with the part to rewrite', () => {
  const cases: [string, RegExp][] = [
    ['(a+)+', /"\(a\+\)\+" repeats a group that itself repeats/],
    ['/x/(.*a)*', /"\(\.\*a\)\*"/],
    ['(a*)*b', /repeats a group/],
    ['((ab)*c)+', /repeats a group/],
    ['(?:[a-z]+/?)+', /repeats a group/],
    ['(x[a-z]+)+', /repeats a group/, ],
    ['(/.*)*', /repeats a group/],
    ['((/[^/]+)*)+', /repeats a group/],
    ['(a+){2,}', /repeats a group/],
    ['(a|b+)*', /repeats a group/],
  ];
  for (const [source, message] of cases) assert.match(pathRegexProblem(source) ?? '', message, source);
  assert.match(pathRegexProblem('(a)\\1') ?? '', /backreference/);
  assert.match(pathRegexProblem('(?<x>a)\\k<x>') ?? '', /backreference/);
  assert.equal(pathRegexProblem('\\\\1'), undefined, 'an escaped backslash followed by 1 is no backreference');
});

test('hostile sources: huge, unicode, classes hiding parentheses', () => {
  assert.match(pathRegexProblem('a'.repeat(MAX_PATH_REGEX_LENGTH + 1)) ?? '', /1025 characters long.*under 1024/);
  assert.equal(pathRegexProblem('a'.repeat(MAX_PATH_REGEX_LENGTH)), undefined);
  assert.equal(pathRegexProblem('/\u{1F600}+/[^/]+'), undefined, 'emoji are just characters');
  assert.equal(pathRegexProblem('/[()+*]+'), undefined, 'parentheses inside a class open no group');
  assert.equal(pathRegexProblem('/[\\]()]+x'), undefined, 'an escaped ] does not end the class');
  assert.match(pathRegexProblem('(\\u0061+)+') ?? '', /repeats a group/);
});
