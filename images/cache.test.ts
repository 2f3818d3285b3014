import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CATALOG } from './catalog.ts';
import { builderHash, bundleKey, fileHasher, ImageCache, imageKey, type KeyInput } from './cache.ts';
import type { Entry, Tree } from './tree.ts';

const echo = CATALOG.find((d) => d.name === 'e2e/echo')!;

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'skein-cache-test-'));
  try { await f(dir); } finally { await rm(dir, { recursive: true, force: true }); }
}

function input(dir: string, over: Partial<KeyInput> = {}, tree?: Tree): KeyInput {
  const base: Tree = tree ?? new Map<string, Entry>([
    ['/usr/bin/node', { kind: 'file', from: join(dir, 'node'), mode: 0o755 }],
    ['/etc/passwd', { kind: 'data', data: 'root:x:0:0::/root:/bin/sh\n', mode: 0o644 }],
    ['/bin', { kind: 'symlink', target: 'usr/bin' }],
    ['/tmp', { kind: 'dir', mode: 0o1777 }],
  ]);
  return { def: echo, ref: 'registry.test/skein/e2e/echo:v1', layers: [base, new Map([['/opt/skein/echo.mjs', { kind: 'data', data: 'console.log(1)', mode: 0o644 }]])], smokeTested: true, builder: 'b1', ...over };
}

test('an image key is the same for the same inputs, whatever order the layer was filled in', async () => withDir(async (dir) => {
  await writeFile(join(dir, 'node'), 'node binary v1');
  const a = await imageKey(input(dir), fileHasher());
  const reversed = new Map([...input(dir).layers[0]!].reverse());
  const b = await imageKey(input(dir, {}, reversed), fileHasher());
  assert.equal(a, b);
  assert.match(a, /^[0-9a-f]{32}$/);
}));

test('an image key changes with a file\'s content, a mode, a link, the app layer, the reference, the catalog entry, the smoke test, the builder and the bundle', async () => withDir(async (dir) => {
  await writeFile(join(dir, 'node'), 'node binary v1');
  const before = await imageKey(input(dir), fileHasher());
  const changed = async (k: KeyInput): Promise<string> => imageKey(k, fileHasher());
  const variants: [string, KeyInput][] = [];
  const withEntry = (path: string, entry: Entry): KeyInput => {
    const t = new Map(input(dir).layers[0]);
    t.set(path, entry);
    return input(dir, {}, t);
  };
  variants.push(['mode', withEntry('/usr/bin/node', { kind: 'file', from: join(dir, 'node'), mode: 0o700 })]);
  variants.push(['link target', withEntry('/bin', { kind: 'symlink', target: 'usr/sbin' })]);
  variants.push(['data', withEntry('/etc/passwd', { kind: 'data', data: 'root:x:0:0::/:/bin/sh\n', mode: 0o644 })]);
  variants.push(['new file', withEntry('/etc/hosts', { kind: 'data', data: '', mode: 0o644 })]);
  variants.push(['app layer', input(dir, { layers: [input(dir).layers[0]!, new Map([['/opt/skein/echo.mjs', { kind: 'data', data: 'console.log(2)', mode: 0o644 }]])] })]);
  variants.push(['reference', input(dir, { ref: 'registry.test/skein/e2e/echo:v2' })]);
  variants.push(['runtime', input(dir, { def: { ...echo, runtime: { ...echo.runtime, user: '0:0' } } })]);
  variants.push(['smoke tested', input(dir, { smokeTested: false })]);
  variants.push(['builder', input(dir, { builder: 'b2' })]);
  variants.push(['bundle', input(dir, { bundle: 'bundle-key-2' })]);
  const keys = new Map<string, string>();
  for (const [what, k] of variants) {
    const key = await changed(k);
    assert.notEqual(key, before, `${what} did not change the key`);
    keys.set(what, key);
  }
  assert.equal(new Set(keys.values()).size, variants.length, 'two different changes gave the same key');
  // A host file's content, not its path or time, is what counts.
  await writeFile(join(dir, 'node'), 'node binary v2');
  assert.notEqual(await imageKey(input(dir), fileHasher()), before);
}));

test('the builder hash covers the builder\'s source but not its tests', async () => withDir(async (dir) => {
  await writeFile(join(dir, 'build.ts'), 'export {}');
  const a = builderHash(dir);
  await writeFile(join(dir, 'build.test.ts'), 'test()');
  assert.equal(builderHash(dir), a);
  await writeFile(join(dir, 'tree.ts'), 'export {}');
  assert.notEqual(builderHash(dir), a);
}));

test('a cache entry is taken by its key only, and only the newest few of an image are kept', async () => withDir(async (dir) => {
  const cache = new ImageCache(join(dir, 'cache'));
  const meta = (digest: string) => ({ name: 'e2e/echo', ref: 'r', digest, archiveBytes: 3, layers: [] });
  const built = join(dir, 'built.tar');
  const out = join(dir, 'out.tar');
  for (let i = 0; i < 6; i++) {
    await writeFile(built, `archive ${i}`);
    await cache.put(`${i}`.repeat(32), meta(`sha256:${i}`), built);
    // Ages one second apart: the eviction goes by time, and these writes share a millisecond.
    await utimes(join(dir, 'cache', `e2e-echo.${`${i}`.repeat(32)}.json`), 1_000_000 + i, 1_000_000 + i);
  }
  assert.equal(await cache.take('e2e/echo', 'f'.repeat(32), out), undefined);
  assert.equal(existsSync(out), false);
  assert.equal((await cache.take('e2e/echo', '5'.repeat(32), out))?.digest, 'sha256:5');
  assert.equal(readdirSync(join(dir, 'cache')).filter((f) => f.endsWith('.json')).length, 4);
  assert.equal(await cache.take('e2e/echo', '0'.repeat(32), out), undefined);
}));

test('a bundle key follows its inputs\' contents, its spec and the files that decide resolution; a vanished input leaves it unknown', async () => withDir(async (dir) => {
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'a.ts', 'b.ts']) await writeFile(join(dir, f), `${f} v1`);
  const spec = { entries: { app: 'a.ts' } };
  const key = (s = spec, inputs = ['a.ts', 'b.ts']) => bundleKey(s, inputs, fileHasher(), dir);
  const before = await key();
  assert.equal(await key(spec, ['b.ts', 'a.ts']), before, 'the order inputs are listed in does not count');
  assert.notEqual(await key({ entries: { app: 'a.ts' }, shebangFlags: ['--x'] } as typeof spec), before, 'spec');
  assert.notEqual(await key(spec, ['a.ts']), before, 'input set');
  await writeFile(join(dir, 'b.ts'), 'b.ts v2');
  const changed = await key();
  assert.notEqual(changed, before, 'an input\'s content');
  await writeFile(join(dir, 'package-lock.json'), 'lock v2');
  assert.notEqual(await key(), changed, 'package-lock.json');
  await rm(join(dir, 'b.ts'));
  assert.equal(await key(), undefined);
}));

test('the files a bundle read are recorded per image and read back; none before the first record', async () => withDir(async (dir) => {
  const cache = new ImageCache(join(dir, 'cache'));
  assert.equal(await cache.bundleInputs('e2e/echo'), undefined);
  await cache.recordInputs('e2e/echo', ['e2e/apps/echo.ts', 'node_modules/yaml/dist/index.js']);
  assert.deepEqual(await cache.bundleInputs('e2e/echo'), ['e2e/apps/echo.ts', 'node_modules/yaml/dist/index.js']);
  assert.equal(await cache.bundleInputs('proxy'), undefined);
}));
