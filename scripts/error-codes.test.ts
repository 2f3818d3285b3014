// The one error convention: every code an error class or code list of the
// project declares is lower snake_case (api/errors.ts ERROR_CODE), so logs,
// metric labels, the skein-proxy-error header and CLI messages all carry the
// same kind of word. Read from the source, so a new class cannot slip by.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODE } from '../api/errors.ts';
import { PROXY_ERRORS } from '../proxy-image/proxy/errors.ts';
import { EXIT_STATUS } from '../proxy-image/init/errors.ts';

const ROOT = join(import.meta.dirname, '..');
const sources = execFileSync('git', ['ls-files', 'api', 'shared', 'operator', 'webhook', 'proxy-image', 'cli'], { cwd: ROOT, encoding: 'utf8' })
  .split('\n').filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));

/** `readonly code = 'x'` and the members of `type XxxCode = 'a' | 'b'`. */
function declaredCodes(text: string): string[] {
  const codes = [...text.matchAll(/readonly code = '([^']*)'/g)].map((m) => m[1] ?? '');
  for (const m of text.matchAll(/type \w*Code = ([^;]*);/g)) codes.push(...[...(m[1] ?? '').matchAll(/'([^']*)'/g)].map((q) => q[1] ?? ''));
  return codes;
}

test('every declared error code is snake_case', () => {
  const found: string[] = [];
  for (const file of sources) for (const code of declaredCodes(readFileSync(join(ROOT, file), 'utf8'))) found.push(`${file}: ${code}`);
  assert.ok(found.length >= 20, `expected the project's codes, found ${found.length}`);
  assert.deepEqual(found.filter((f) => !ERROR_CODE.test(f.split(': ')[1] ?? '')), []);
});

test('the proxy and skein-init code tables are snake_case too', () => {
  for (const code of [...Object.keys(PROXY_ERRORS), ...Object.keys(EXIT_STATUS)]) assert.match(code, ERROR_CODE);
});

test('the check itself refuses the other conventions', () => {
  for (const bad of ['ConfigInvalid', 'no-endpoint', 'BadAdmissionReview', 'Usage', 'x__y', '_x']) assert.doesNotMatch(bad, ERROR_CODE, bad);
  assert.deepEqual(declaredCodes("readonly code = 'IssuerInvalid';\ntype FooCode = 'a_b' | 'CamelCase';"), ['IssuerInvalid', 'a_b', 'CamelCase']);
});
