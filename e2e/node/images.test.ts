import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { lookupImage, argvFor, resolveCommand, repositoryOf, ImagePullError, REPO_ROOT } from './images.ts';
import { imageRef } from '../../shared/images.ts';
import { IMAGES } from '../support/images.ts';

test('an image is found by repository, whatever its tag or digest', () => {
  assert.ok(lookupImage(`${repositoryOf(IMAGES.echo)}:v9`));
  assert.ok(lookupImage(`${repositoryOf(IMAGES.echo)}@sha256:abc`));
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

test('a command naming an executable the image provides runs it; other commands run as given', () => {
  const img = { entrypoint: ['/bin/proxy'], cmd: [], bin: { 'skein-init': ['/usr/bin/node', '/init.ts'] } };
  assert.deepEqual(argvFor(img, ['skein-init'], ['--inbound-port', '4143']), ['/usr/bin/node', '/init.ts', '--inbound-port', '4143']);
  assert.deepEqual(resolveCommand(img, ['sh', '-c', 'true']), ['sh', '-c', 'true']);
  assert.deepEqual(resolveCommand(lookupImage(imageRef('proxy')), ['skein-proxy', 'await']).slice(-2), [resolve(REPO_ROOT, 'proxy-image/proxy/main.ts'), 'await']);
});
