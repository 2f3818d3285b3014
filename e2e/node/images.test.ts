import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lookupImage, argvFor, repositoryOf, ImagePullError } from './images.ts';

test('an image is found by repository, whatever its tag or digest', () => {
  assert.equal(repositoryOf('skein.dev/e2e/echo:dev'), 'skein.dev/e2e/echo');
  assert.equal(repositoryOf('localhost:5000/echo'), 'localhost:5000/echo');
  assert.equal(repositoryOf('skein.dev/e2e/echo@sha256:abc'), 'skein.dev/e2e/echo');
  assert.ok(lookupImage('skein.dev/e2e/echo:v9'));
});

test('an unknown image fails like a pull, naming the table', () => {
  assert.throws(() => lookupImage('docker.io/library/nginx:1.27'), (e: unknown) => e instanceof ImagePullError && e.code === 'ErrImagePull' && /images\.ts/.test(e.message));
});

test('command replaces the entrypoint and args replace the default arguments', () => {
  const img = { entrypoint: ['/bin/app'], cmd: ['--serve'] };
  assert.deepEqual(argvFor(img, undefined, undefined), ['/bin/app', '--serve']);
  assert.deepEqual(argvFor(img, undefined, ['--once']), ['/bin/app', '--once']);
  assert.deepEqual(argvFor(img, ['sh', '-c'], ['echo hi']), ['sh', '-c', 'echo hi']);
});
