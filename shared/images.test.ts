import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_TAG, checkImageSource, imageRef, repositoryOf } from './images.ts';

test('the default tag is v<package.json version>', () => {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };
  assert.equal(DEFAULT_TAG, `v${pkg.version}`);
});

test('image references join registry, name and tag', () => {
  assert.equal(imageRef('proxy'), `ghcr.io/skein-dev/proxy:${DEFAULT_TAG}`);
  assert.equal(imageRef('controller', { registry: 'localhost:5000/mesh/', tag: 'dev' }), 'localhost:5000/mesh/controller:dev');
});

test('repositoryOf drops tag and digest, not a registry port', () => {
  assert.equal(repositoryOf('localhost:5000/skein/proxy:v1'), 'localhost:5000/skein/proxy');
  assert.equal(repositoryOf('localhost:5000/skein/proxy'), 'localhost:5000/skein/proxy');
  assert.equal(repositoryOf('ghcr.io/skein-dev/proxy@sha256:abc'), 'ghcr.io/skein-dev/proxy');
});

test('bad registries and tags are refused with what to write', () => {
  assert.deepEqual(checkImageSource({ registry: 'registry.example.com:5000/skein', tag: 'v0.1.0-rc.1' }), []);
  const problems = checkImageSource({ registry: 'Registry.Example.com/Skein', tag: '-bad tag' });
  assert.deepEqual(problems.map((p) => p.field), ['registry', 'tag']);
  assert.match(problems[0]?.message ?? '', /registry\.example\.com\/skein/);
});
