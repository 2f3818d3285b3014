import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { packageRoot } from './version.ts';

test('the package root is the nearest folder with package.json: the checkout for cli/, the package for dist/cli/', () => {
  const has = (...roots: string[]) => (p: string) => roots.map((r) => join(r, 'package.json')).includes(p);
  assert.equal(packageRoot('/work/repo/cli', has('/work/repo')), '/work/repo');
  assert.equal(packageRoot('/usr/lib/node_modules/skein/dist/cli', has('/usr/lib/node_modules/skein', '/usr/lib')), '/usr/lib/node_modules/skein');
  assert.throws(() => packageRoot('/nowhere/cli', has()), /no package\.json at or above \/nowhere\/cli/);
});
