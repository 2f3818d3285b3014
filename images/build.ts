// `make images`: builds the images of images/catalog.ts as OCI archives, with
// no network and no container engine. Each archive loads with `ctr images
// import`, `docker load`, `kind load image-archive` or `skopeo copy
// oci-archive:...`. The same inputs (this checkout, its node_modules, the
// Node binary and the host's Debian packages) give the same digests.
//   node images/build.ts [--registry R] [--tag T] [--out DIR] [--k8s-bin DIR] [--istio-echo DIR] [--no-cache] [--all | NAME...]
// An image whose inputs have not changed since a build is taken from the
// cache (images/cache.ts, ~/.cache/skein/images) instead of being built.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { checkImageSource, DEFAULT_SOURCE, imageRef, type ImageSource } from '../shared/images.ts';
import { bundle, REPO_ROOT, type Bundled } from './bundle.ts';
import { builderHash, bundleKey, DEFAULT_CACHE_DIR, fileHasher, ImageCache, imageKey, type CachedImage, type FileHasher } from './cache.ts';
import { CATALOG, CLUSTER_IMAGES, SHIPPED, type ImageDef, type SystemLayer } from './catalog.ts';
import { blobPath, describe, dockerManifest, imageConfig, imageIndex, imageManifest, MEDIA, OCI_LAYOUT, type Descriptor } from './oci.ts';
import { goBinary, iptables, istioEcho, nodeBase, shellBase } from './system.ts';
import { ImageBuildError, packLayer, relativeLink, smokeTest, without, type Layer, type Tree } from './tree.ts';

export const DEFAULT_OUT = join(REPO_ROOT, '.cache', 'images');

export interface Built { name: string; ref: string; archive: string; digest: string; archiveBytes: number; layers: { digest: string; bytes: number }[]; fromCache: boolean }

/** An archive's file name: `ghcr.io/skein-dev/e2e/echo` is `e2e-echo.oci.tar`. */
export const archiveName = (name: string): string => `${name.replace(/\//g, '-')}.oci.tar`;

export interface BuildOptions {
  /** Where e2e/cluster/build-binaries.sh put pause and CoreDNS; needed only for their images. */
  k8sBinDir?: string;
  /** Where scripts/istio-echo.sh put Istio's echo server and client; needed only for the conformance echo image. */
  istioEchoDir?: string;
  /** Where built images are kept between builds (images/cache.ts); null builds everything afresh. */
  cacheDir?: string | null;
}

export async function buildImages(names: readonly string[], source: ImageSource, outDir: string, opts: BuildOptions = {}): Promise<Built[]> {
  const problems = checkImageSource(source);
  if (problems.length > 0) throw new ImageBuildError('bad_input', problems.map((p) => `--${p.field}: ${p.message}`).join('; '));
  const unknown = names.filter((n) => !CATALOG.some((d) => d.name === n));
  if (unknown.length > 0) throw new ImageBuildError('bad_input', `unknown image(s) ${unknown.join(', ')}; known: ${CATALOG.map((d) => d.name).join(', ')}`);
  const systemTrees = memo((layer: SystemLayer): Tree => {
    switch (layer) {
      case 'node': return nodeBase(process.execPath);
      case 'shell': return shellBase();
      case 'iptables': return iptables();
      case 'pause': case 'coredns':
        if (!opts.k8sBinDir) throw new ImageBuildError('bad_input', `the ${layer} image is built from the Kubernetes build: pass --k8s-bin "$(e2e/cluster/build-binaries.sh)"`);
        return goBinary(opts.k8sBinDir, layer);
      case 'istio-echo':
        if (!opts.istioEchoDir) throw new ImageBuildError('bad_input', 'the echo-advanced image is built from Istio\'s echo programs: pass --istio-echo "$(scripts/istio-echo.sh)"');
        return istioEcho(opts.istioEchoDir);
    }
  });
  // A layer is packed once per build and shared by every image that has it (the Node base).
  const packed = new Map<string, Promise<Layer>>();
  const pack = (key: string, tree: Tree): Promise<Layer> => {
    if (!packed.has(key)) packed.set(key, packLayer(tree));
    return packed.get(key)!;
  };
  const cache = opts.cacheDir === null ? undefined : new ImageCache(opts.cacheDir ?? DEFAULT_CACHE_DIR);
  const hashFile = fileHasher();
  const builder = builderHash();
  const smokeTested = process.getuid?.() === 0;
  await mkdir(outDir, { recursive: true });
  const built: Built[] = [];
  for (const def of CATALOG.filter((d) => names.includes(d.name))) {
    const ref = def.ref ?? imageRef(def.name, source);
    const whole: Tree = new Map();
    const layers: { packKey?: string; tree: Tree }[] = [];
    for (const [i, layer] of def.system.entries()) {
      layers.push({ packKey: def.system.slice(0, i + 1).join('+'), tree: without(systemTrees(layer), whole) });
      for (const [k, v] of systemTrees(layer)) if (!whole.has(k)) whole.set(k, v);
    }
    const links = commandLinks(def);
    const archive = join(outDir, archiveName(def.name));
    const keyOf = async (bundled: string | undefined) => imageKey({ def, ref, layers: [...layers.map((l) => l.tree), links], ...(bundled ? { bundle: bundled } : {}), smokeTested, builder }, hashFile);
    const { hit, key, made: looked } = cache ? await lookUp(cache, def, archive, keyOf, hashFile) : { hit: undefined, key: '', made: undefined };
    if (hit) {
      process.stderr.write(`images: ${ref} unchanged (cache ${key.slice(0, 12)})\n`);
      built.push({ ...hit, archive, fromCache: true });
      continue;
    }
    const made = looked ?? (def.bundle ? await bundle(def.bundle) : undefined);
    const app: Tree = new Map([...(made?.tree ?? []), ...links]);
    if (app.size > 0) {
      layers.push({ tree: app });
      for (const [k, v] of app) whole.set(k, v);
    }
    process.stderr.write(`images: building ${ref}\n`);
    const packedLayers = await Promise.all(layers.map((l) => (l.packKey ? pack(l.packKey, l.tree) : packLayer(l.tree))));
    if (smokeTested) {
      for (const t of def.smoke) await smokeTest(whole, t.argv, t.expect);
    } else {
      process.stderr.write(`images: not root, so ${def.name}'s smoke test (chroot) is skipped\n`);
    }
    const image = await writeArchive(def, ref, packedLayers, archive);
    if (cache) {
      await cache.put(key, { name: image.name, ref: image.ref, digest: image.digest, archiveBytes: image.archiveBytes, layers: image.layers }, archive);
      if (made) await cache.recordInputs(def.name, made.inputs);
    }
    built.push(image);
  }
  return built;
}

/**
 * The cached image for `def`, keyed on the files its bundle was last made from,
 * so an unchanged image is taken without bundling. On a miss the bundle is made
 * (what it reads now may differ from what was recorded: a changed import) and
 * the key is that of what it read.
 */
async function lookUp(cache: ImageCache, def: ImageDef, archive: string, keyOf: (bundled: string | undefined) => Promise<string>, hashFile: FileHasher): Promise<{ hit: CachedImage | undefined; key: string; made: Bundled | undefined }> {
  if (!def.bundle) {
    const key = await keyOf(undefined);
    return { hit: await cache.take(def.name, key, archive), key, made: undefined };
  }
  const recorded = await cache.bundleInputs(def.name);
  const recordedKey = recorded ? await bundleKey(def.bundle, recorded, hashFile, REPO_ROOT) : undefined;
  const key = recordedKey ? await keyOf(recordedKey) : '';
  const hit = recordedKey ? await cache.take(def.name, key, archive) : undefined;
  if (hit) return { hit, key, made: undefined };
  const made = await bundle(def.bundle);
  const madeKey = await keyOf(await bundleKey(def.bundle, made.inputs, hashFile, REPO_ROOT));
  const madeHit = madeKey !== key ? await cache.take(def.name, madeKey, archive) : undefined;
  if (madeHit) await cache.recordInputs(def.name, made.inputs);
  return { hit: madeHit, key: madeKey, made };
}

/** The image's commands as symlinks on PATH. */
function commandLinks(def: ImageDef): Tree {
  const tree: Tree = new Map();
  for (const [cmd, target] of Object.entries(def.commands ?? {})) {
    const at = posix.join('/usr/local/bin', cmd);
    tree.set(at, { kind: 'symlink', target: relativeLink(at, target) });
  }
  return tree;
}

async function writeArchive(def: ImageDef, ref: string, layers: readonly Layer[], archive: string): Promise<Built> {
  const config = imageConfig({ ...def.runtime, workingDir: '/', labels: { 'org.opencontainers.image.title': def.name, 'org.opencontainers.image.source': 'https://github.com/skein-dev/skein' } }, layers.map((l) => l.diffId));
  const configDesc = describe(MEDIA.config, config);
  const layerDescs: Descriptor[] = layers.map((l) => describe(MEDIA.layer, l.blob));
  const manifest = imageManifest(configDesc, layerDescs);
  const manifestDesc = describe(MEDIA.manifest, manifest);
  const dir = await mkdtemp(join(tmpdir(), 'skein-oci-'));
  try {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    const blobs: [string, Buffer][] = [[configDesc.digest, config], [manifestDesc.digest, manifest], ...layers.map((l, i): [string, Buffer] => [layerDescs[i]!.digest, l.blob])];
    for (const [digest, data] of blobs) await writeFile(join(dir, blobPath(digest)), data);
    await writeFile(join(dir, 'oci-layout'), OCI_LAYOUT);
    await writeFile(join(dir, 'index.json'), imageIndex(manifestDesc, ref));
    await writeFile(join(dir, 'manifest.json'), dockerManifest(configDesc, layerDescs, ref));
    // A new file, never the old one rewritten in place: that one may be a hard link into the cache.
    await rm(archive, { force: true });
    execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--format=posix',
      '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime', '-C', dir, '-cf', archive, 'blobs', 'index.json', 'manifest.json', 'oci-layout']);
    const archiveBytes = Number(execFileSync('stat', ['-c', '%s', archive], { encoding: 'utf8' }).trim());
    return { name: def.name, ref, archive, digest: manifestDesc.digest, archiveBytes, layers: layerDescs.map((l) => ({ digest: l.digest, bytes: l.size })), fromCache: false };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function memo<K, V>(f: (k: K) => V): (k: K) => V {
  const cache = new Map<K, V>();
  return (k) => {
    if (!cache.has(k)) cache.set(k, f(k));
    return cache.get(k)!;
  };
}

export const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: {
    registry: { type: 'string', default: DEFAULT_SOURCE.registry },
    tag: { type: 'string', default: DEFAULT_SOURCE.tag },
    out: { type: 'string', default: DEFAULT_OUT },
    all: { type: 'boolean', default: false },
    'k8s-bin': { type: 'string' },
    'istio-echo': { type: 'string' },
    'no-cache': { type: 'boolean', default: false },
  } });
  const names = values.all ? CLUSTER_IMAGES : positionals.length > 0 ? positionals : SHIPPED;
  const outDir = resolve(values.out);
  // pause and CoreDNS come from the Kubernetes build; build-binaries.sh is a no-op when it is cached.
  const needsK8s = CATALOG.some((d) => names.includes(d.name) && d.system.some((l) => l === 'pause' || l === 'coredns'));
  const k8sBinDir = values['k8s-bin'] ?? (needsK8s ? execFileSync(join(REPO_ROOT, 'e2e/cluster/build-binaries.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop() : undefined);
  const needsEcho = CATALOG.some((d) => names.includes(d.name) && d.system.includes('istio-echo'));
  const istioEchoDir = values['istio-echo'] ?? (needsEcho ? execFileSync(join(REPO_ROOT, 'scripts/istio-echo.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop() : undefined);
  const built = await buildImages(names, { registry: values.registry, tag: values.tag }, outDir, { ...(k8sBinDir ? { k8sBinDir } : {}), ...(istioEchoDir ? { istioEchoDir } : {}), ...(values['no-cache'] ? { cacheDir: null } : {}) });
  await writeFile(join(outDir, 'images.json'), JSON.stringify(built.map(({ archive, fromCache: _, ...b }) => ({ ...b, archive: posix.basename(archive) })), null, 2) + '\n');
  for (const b of built) console.log(`${b.ref.padEnd(44)} ${b.digest}  ${mib(b.archiveBytes).padStart(10)}  ${b.archive}`);
  return 0;
}

if (import.meta.main) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
    console.error(`images: ${err instanceof ImageBuildError ? `${err.code}: ` : ''}${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}

