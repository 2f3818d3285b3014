import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImages } from './build.ts';
import { CATALOG, CLUSTER_IMAGES } from './catalog.ts';

const source = { registry: 'registry.test/skein', tag: 'repro' };

// The shell image: the quickest to build (no Node binary to compress), yet every step a Node-based image takes but bundling.
test('two builds of the same checkout give the same image digest, which skopeo reads back with its config', async () => {
  const dirs = [await mkdtemp(join(tmpdir(), 'skein-images-a-')), await mkdtemp(join(tmpdir(), 'skein-images-b-'))];
  try {
    const [a, b] = [await buildImages(['e2e/shell'], source, dirs[0]!, { cacheDir: null }), await buildImages(['e2e/shell'], source, dirs[1]!, { cacheDir: null })];
    assert.deepEqual(a.map((x) => x.digest), b.map((x) => x.digest));
    assert.equal(a[0]!.ref, 'registry.test/skein/e2e/shell:repro');
    // skopeo reads the archive as any registry client would, and sees the config we wrote.
    const config = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci-archive:${a[0]!.archive}`], { encoding: 'utf8' })) as { config: { User: string; Entrypoint: string[] } };
    assert.equal(config.config.User, '0:0');
    assert.deepEqual(config.config.Entrypoint, ['/bin/sh']);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${a[0]!.archive}`], { encoding: 'utf8' })) as { Digest: string };
    assert.equal(inspected.Digest, a[0]!.digest);
  } finally {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
});

test('a bad registry is refused before anything is built', async () => {
  await assert.rejects(buildImages(['proxy'], { registry: 'Not A Registry', tag: 'x' }, tmpdir()), /--registry: "Not A Registry" is not a registry path/);
});

test('an unchanged image comes from the cache the second time, with the same digest and a loadable archive', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'skein-images-cache-'));
  try {
    const opts = { cacheDir: join(dir, 'cache') };
    const [first] = await buildImages(['e2e/shell'], source, join(dir, 'a'), opts);
    const [second] = await buildImages(['e2e/shell'], source, join(dir, 'b'), opts);
    assert.equal(first!.fromCache, false);
    assert.equal(second!.fromCache, true);
    assert.equal(second!.digest, first!.digest);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${second!.archive}`], { encoding: 'utf8' })) as { Digest: string };
    assert.equal(inspected.Digest, first!.digest);
    // Another tag is another image: built, not taken.
    const [retagged] = await buildImages(['e2e/shell'], { ...source, tag: 'other' }, join(dir, 'c'), opts);
    assert.equal(retagged!.fromCache, false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the conformance echo image keeps the name its manifests use, is built only when named, and needs Istio\'s echo programs', async () => {
  const echo = CATALOG.find((d) => d.name === 'gateway-api/conformance/echo-advanced');
  assert.equal(echo?.ref, 'registry.k8s.io/gateway-api/conformance/echo-advanced:v0.1.0');
  assert.ok(!CLUSTER_IMAGES.includes('gateway-api/conformance/echo-advanced'));
  assert.ok(CLUSTER_IMAGES.includes('e2e/shell') && CLUSTER_IMAGES.includes('proxy'));
  await assert.rejects(buildImages(['gateway-api/conformance/echo-advanced'], source, tmpdir(), { cacheDir: null }), /pass --istio-echo "\$\(scripts\/istio-echo\.sh\)"/);
  await assert.rejects(buildImages(['gateway-api/conformance/echo-advanced'], source, tmpdir(), { cacheDir: null, istioEchoDir: '/nonexistent' }), /\/nonexistent\/server is missing on this machine/);
});
