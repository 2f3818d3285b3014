// Built images kept between builds (`cluster up` on real nodes, `make images`),
// so an unchanged image is not packed, compressed and smoke-tested again. An
// image's key is a hash of everything its archive is made from: its catalog
// entry, its reference, the builder's own source, and every file, link and
// mode of every system layer (file contents by their hash, so a changed Node
// binary or Debian library changes the key). A bundle enters the key through
// what it is made from: the files esbuild read the last time (recorded beside
// the cache entries), with package.json, package-lock.json, tsconfig.json and
// esbuild's version, so a warm build does not bundle at all (esbuild took
// 10-30 s of a warm `cluster up` on the loaded 2-core machine). Imports name
// their files with extensions, so a new file cannot take over an import
// without a change to a file that was read; a changed import changes its
// importer, and the bundle is made again.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { copyFile, link, mkdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { version as esbuildVersion } from 'esbuild';
import type { BundleSpec } from './bundle.ts';
import type { ImageDef } from './catalog.ts';
import type { Tree } from './tree.ts';

/** Next to the Kubernetes binaries (e2e/cluster/build-binaries.sh); shared by every checkout on the machine, which the key makes safe. */
export const DEFAULT_CACHE_DIR = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'skein', 'images');

/** Entries kept per image: a few, so checkouts on different commits do not evict each other at once. */
const KEEP_PER_IMAGE = 4;

/** Hashes a host file once per build, however many images hold it. */
export type FileHasher = (path: string) => Promise<string>;

export function fileHasher(): FileHasher {
  const seen = new Map<string, Promise<string>>();
  return (path) => {
    let h = seen.get(path);
    if (!h) {
      h = new Promise<string>((resolve, reject) => {
        const hash = createHash('sha256');
        createReadStream(path).on('data', (d) => hash.update(d)).on('error', reject).on('end', () => resolve(hash.digest('hex')));
      });
      seen.set(path, h);
    }
    return h;
  };
}

/** One line per entry, sorted by path: what packLayer would write, with file contents as hashes. */
export async function treeLines(tree: Tree, hashFile: FileHasher): Promise<string[]> {
  const lines: string[] = [];
  for (const [path, e] of [...tree].sort(([a], [b]) => (a < b ? -1 : 1))) {
    switch (e.kind) {
      case 'file': lines.push(`${path} file ${e.mode.toString(8)} ${await hashFile(e.from)}`); break;
      case 'data': lines.push(`${path} file ${e.mode.toString(8)} ${createHash('sha256').update(e.data).digest('hex')}`); break;
      case 'symlink': lines.push(`${path} symlink ${e.target}`); break;
      case 'dir': lines.push(`${path} dir ${e.mode.toString(8)}`); break;
    }
  }
  return lines;
}

/** Files outside a bundle's inputs that decide how its imports resolve. */
const RESOLUTION_FILES = ['package.json', 'package-lock.json', 'tsconfig.json'];

/**
 * A bundle's key: its spec, esbuild's version and every input file's content
 * (paths relative to `root`). Undefined when an input no longer exists: the
 * bundle must be made again to learn what it reads now.
 */
export async function bundleKey(spec: BundleSpec, inputs: readonly string[], hashFile: FileHasher, root: string): Promise<string | undefined> {
  const h = createHash('sha256').update(JSON.stringify({ spec, esbuild: esbuildVersion }));
  for (const f of [...new Set([...inputs, ...RESOLUTION_FILES])].sort()) {
    const file = join(root, f);
    if (!existsSync(file)) return undefined;
    h.update(`\n${f} ${await hashFile(file)}`);
  }
  return h.digest('hex');
}

export interface KeyInput {
  def: ImageDef;
  ref: string;
  /** The layers bottom first, as they will be packed (the bundle's files left out: `bundle` stands for them). */
  layers: readonly Tree[];
  /** bundleKey() of the image's bundle, if it has one. */
  bundle?: string;
  /** Whether the smoke tests run (only as root): an archive built without them is not reused by a build that would run them. */
  smokeTested: boolean;
  /** A hash of the builder's own source (builderHash()). */
  builder: string;
}

export async function imageKey(input: KeyInput, hashFile: FileHasher): Promise<string> {
  const h = createHash('sha256');
  const { def } = input;
  h.update(JSON.stringify({ name: def.name, system: def.system, bundle: def.bundle, runtime: def.runtime, commands: def.commands,
    smoke: input.smokeTested ? def.smoke.map((s) => ({ argv: s.argv, expect: String(s.expect) })) : null, ref: input.ref, builder: input.builder, bundleKey: input.bundle ?? null }));
  for (const [i, layer] of input.layers.entries()) h.update(`\nlayer ${i}\n${(await treeLines(layer, hashFile)).join('\n')}`);
  return h.digest('hex').slice(0, 32);
}

/** The builder's own source files (not its tests): a change in how images are packed changes every key. */
export function builderHash(dir: string = import.meta.dirname): string {
  const h = createHash('sha256');
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts') && !n.endsWith('.test.ts')).sort()) h.update(`${f}\n`).update(readFileSync(join(dir, f)));
  return h.digest('hex');
}

/** What a cache entry records beside its archive (the Built record without its path). */
export interface CachedImage { name: string; ref: string; digest: string; archiveBytes: number; layers: { digest: string; bytes: number }[] }

export class ImageCache {
  readonly dir: string;
  constructor(dir: string) { this.dir = dir; }

  private entry(name: string, key: string): { archive: string; meta: string } {
    const base = `${name.replace(/\//g, '-')}.${key}`;
    return { archive: join(this.dir, `${base}.oci.tar`), meta: join(this.dir, `${base}.json`) };
  }

  private inputsFile(name: string): string {
    return join(this.dir, `${name.replace(/\//g, '-')}.bundle-inputs`);
  }

  /** The files the image's bundle read when it was last made (recordInputs), or undefined. */
  async bundleInputs(name: string): Promise<string[] | undefined> {
    const text = await readFile(this.inputsFile(name), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : text.split('\n').filter(Boolean);
  }

  async recordInputs(name: string, inputs: readonly string[]): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const tmp = `${this.inputsFile(name)}.${process.pid}.tmp`;
    await writeFile(tmp, inputs.join('\n') + '\n');
    await rename(tmp, this.inputsFile(name));
  }

  /** The cached image for `key`, put at `archive` (a hard link, or a copy across file systems); undefined if there is none. */
  async take(name: string, key: string, archive: string): Promise<CachedImage | undefined> {
    const e = this.entry(name, key);
    if (!existsSync(e.meta) || !existsSync(e.archive)) return undefined;
    const meta = JSON.parse(await readFile(e.meta, 'utf8')) as CachedImage;
    await unlink(archive).catch(() => undefined);
    await link(e.archive, archive).catch(() => copyFile(e.archive, archive));
    return meta;
  }

  /** Stores a built archive under `key` (written beside, then renamed: a reader never sees half an entry) and drops the oldest entries of that image. */
  async put(key: string, image: CachedImage, archive: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const e = this.entry(image.name, key);
    const tmp = `${e.archive}.${process.pid}.tmp`;
    await copyFile(archive, tmp);
    await rename(tmp, e.archive);
    await writeFile(`${e.meta}.${process.pid}.tmp`, JSON.stringify(image));
    await rename(`${e.meta}.${process.pid}.tmp`, e.meta);
    const prefix = `${image.name.replace(/\//g, '-')}.`;
    const others = readdirSync(this.dir)
      .filter((f) => f.startsWith(prefix) && f.endsWith('.json') && /^[0-9a-f]{32}\.json$/.test(f.slice(prefix.length)))
      .map((f) => ({ f, at: statSync(join(this.dir, f)).mtimeMs }))
      .sort((a, b) => b.at - a.at)
      .slice(KEEP_PER_IMAGE);
    for (const { f } of others) {
      const stale = join(this.dir, basename(f, '.json'));
      await rm(`${stale}.json`, { force: true });
      await rm(`${stale}.oci.tar`, { force: true });
    }
  }
}
