// Each program of an image as JavaScript bundles (esbuild): only the modules
// it imports, TypeScript stripped at build time, no node_modules tree. koffi
// stays a package because its native module is found beside its own files.
import { build } from 'esbuild';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix, relative, resolve } from 'node:path';
import { ImageBuildError, type Tree } from './tree.ts';

export const REPO_ROOT = resolve(import.meta.dirname, '..');

/** Where bundles live in every image. */
export const APP_DIR = '/opt/skein';

/** Packages kept out of the bundle, copied with only their run-time files. */
const NATIVE_PACKAGES: Record<string, string[]> = {
  koffi: ['koffi/package.json', 'koffi/index.js', 'koffi/src/koffi/index.js', 'koffi/src/koffi/src/static.js',
    '@koromix/koffi-linux-x64/package.json', '@koromix/koffi-linux-x64/index.js', '@koromix/koffi-linux-x64/linux_x64/koffi.node'],
};

export interface BundleSpec {
  /** Output name (without .mjs) to a TypeScript entry point, relative to the repository. */
  entries: Record<string, string>;
  /** Node flags for a `#!` line, so an entry runs as a command from PATH. */
  shebangFlags?: string[];
}

/**
 * CommonJS packages in an ES module bundle still call require() for Node's
 * built-ins; give them one.
 */
const BANNER = "import { createRequire as __skeinCreateRequire } from 'node:module'; const require = __skeinCreateRequire(import.meta.url);";

export interface Bundled {
  tree: Tree;
  /** The files esbuild read, relative to the repository (its metafile's inputs): what the bundle is a function of. */
  inputs: string[];
}

export async function bundle(spec: BundleSpec): Promise<Bundled> {
  const out = await mkdtemp(join(tmpdir(), 'skein-bundle-'));
  try {
    const result = await build({
      absWorkingDir: REPO_ROOT,
      entryPoints: Object.entries(spec.entries).map(([name, entry]) => ({ in: entry, out: name })),
      outdir: out,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      splitting: true,
      chunkNames: 'chunks/[name]-[hash]',
      format: 'esm',
      platform: 'node',
      target: 'node24',
      external: Object.keys(NATIVE_PACKAGES),
      banner: { js: BANNER },
      legalComments: 'none',
      logLevel: 'silent',
      metafile: true,
    }).catch((err: Error) => { throw new ImageBuildError('bundle_failed', `esbuild: ${err.message}`); });
    const tree: Tree = new Map();
    const needsPackages = new Set<string>();
    for (const file of Object.values(result.metafile.outputs).flatMap((o) => o.imports)) {
      if (file.external && NATIVE_PACKAGES[file.path]) needsPackages.add(file.path);
    }
    const shebang = spec.shebangFlags ? `#!/usr/bin/node${spec.shebangFlags.length ? ` ${spec.shebangFlags.join(' ')}` : ''}\n` : '';
    if (shebang.length > 127) throw new ImageBuildError('bundle_failed', `the #! line "${shebang.trim()}" is longer than Linux reads`);
    for (const file of await walk(out)) {
      const rel = relative(out, file).split('\\').join('/');
      const isEntry = !rel.includes('/') && Object.hasOwn(spec.entries, rel.replace(/\.mjs$/, ''));
      const text = await readFile(file, 'utf8');
      tree.set(posix.join(APP_DIR, rel), isEntry && shebang ? { kind: 'data', data: shebang + text, mode: 0o755 } : { kind: 'data', data: text, mode: 0o644 });
    }
    for (const pkg of needsPackages) {
      for (const f of NATIVE_PACKAGES[pkg] ?? []) tree.set(posix.join(APP_DIR, 'node_modules', f), { kind: 'file', from: join(REPO_ROOT, 'node_modules', f), mode: 0o644 });
    }
    return { tree, inputs: Object.keys(result.metafile.inputs).sort() };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? walk(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]))));
  return nested.flat().sort();
}
