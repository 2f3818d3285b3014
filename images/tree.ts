// A layer's content as a map from image path to entry, filled from what the
// host's Debian packages installed (a program and the shared libraries ldd
// says it loads), then written to a directory and packed as a deterministic
// tar: sorted names, one fixed mtime, owner 0:0, no atime/ctime.
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { realpathSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { gzipSync } from 'node:zlib';
import { sha256 } from './oci.ts';

export type Entry =
  | { kind: 'file'; from: string; mode: number }
  | { kind: 'data'; data: string | Buffer; mode: number }
  | { kind: 'symlink'; target: string }
  | { kind: 'dir'; mode: number };

/** Keyed by absolute image path. */
export type Tree = Map<string, Entry>;

export class ImageBuildError extends Error {
  readonly code: 'bad_input' | 'missing_host_file' | 'bundle_failed' | 'smoke_test_failed' | 'tar_failed';
  constructor(code: ImageBuildError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

/** Debian 12 merged /usr: /lib, /lib64, /bin and /sbin are symlinks into /usr. */
export function canonicalPath(path: string): string {
  return path.replace(/^\/(lib|lib64|bin|sbin)\//, '/usr/$1/');
}

export const MERGED_USR: readonly [string, string][] = [['/lib', 'usr/lib'], ['/lib64', 'usr/lib64'], ['/bin', 'usr/bin'], ['/sbin', 'usr/sbin']];

export interface Library { path: string }

/** `ldd` output: the libraries a binary loads, by the path the loader finds (vdso has none). */
export function parseLdd(text: string): Library[] {
  const libs: Library[] = [];
  for (const line of text.split('\n')) {
    const arrow = /=>\s+(\/\S+)\s+\(/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(/.exec(line);
    const path = arrow?.[1] ?? bare?.[1];
    if (path) libs.push({ path });
  }
  return libs;
}

function hostFile(path: string, packageHint: string): string {
  try {
    return realpathSync(path);
  } catch {
    throw new ImageBuildError('missing_host_file', `${path} is missing on this machine: install the Debian package ${packageHint} (scripts/system-deps.sh does)`);
  }
}

/** A file from the host at its canonical path; a symlinked name (a soname, an alternative) becomes a symlink to it. */
export function addHostFile(tree: Tree, path: string, packageHint: string, mode?: number): void {
  const real = hostFile(path, packageHint);
  const at = canonicalPath(real);
  if (!tree.has(at)) tree.set(at, { kind: 'file', from: real, mode: mode ?? (isExecutable(real) ? 0o755 : 0o644) });
  const named = canonicalPath(path);
  if (named !== at && !tree.has(named)) tree.set(named, { kind: 'symlink', target: relativeLink(named, at) });
}

/** A binary and every shared library it loads, as the host's loader resolves them. */
export function addBinary(tree: Tree, path: string, packageHint: string, imagePath?: string): void {
  const real = hostFile(path, packageHint);
  tree.set(imagePath ?? canonicalPath(path), { kind: 'file', from: real, mode: 0o755 });
  addLibrariesOf(tree, [real], packageHint);
}

/** One ldd run for all of `binaries` (it takes many): a library loaded by several is added once. */
export function addLibrariesOf(tree: Tree, binaries: readonly string[], packageHint: string): void {
  let out: string;
  try {
    out = execFileSync('ldd', binaries, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    // ldd exits 1 when one of them is static ("not a dynamic executable"); the others' lines are still printed.
    const e = err as { stdout?: string; stderr?: string };
    if (!/not a dynamic executable/.test(`${e.stdout ?? ''}${e.stderr ?? ''}`)) throw err;
    out = e.stdout ?? '';
  }
  for (const lib of parseLdd(out)) addHostFile(tree, lib.path, packageHint);
}

export function relativeLink(from: string, to: string): string {
  return posix.relative(posix.dirname(from), to);
}

function isExecutable(path: string): boolean {
  return (statSync(path).mode & 0o111) !== 0;
}

/** Entries of `tree` that `below` (the layers under it) does not already hold identically. */
export function without(tree: Tree, below: Tree): Tree {
  const out: Tree = new Map();
  for (const [path, entry] of tree) {
    const under = below.get(path);
    if (under && JSON.stringify(under) === JSON.stringify(entry)) continue;
    out.set(path, entry);
  }
  return out;
}

async function writeTree(tree: Tree, root: string): Promise<void> {
  const dirs = new Set<string>();
  for (const path of tree.keys()) {
    for (let d = posix.dirname(path); d !== '/'; d = posix.dirname(d)) dirs.add(d);
  }
  for (const d of [...dirs].sort()) {
    const declared = tree.get(d);
    await mkdir(join(root, d), { recursive: true });
    await chmod(join(root, d), declared?.kind === 'dir' ? declared.mode : 0o755);
  }
  for (const [path, entry] of [...tree].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const at = join(root, path);
    await mkdir(dirname(at), { recursive: true });
    switch (entry.kind) {
      case 'file': await copyFile(entry.from, at); await chmod(at, entry.mode); break;
      case 'data': await writeFile(at, entry.data); await chmod(at, entry.mode); break;
      case 'symlink': await symlink(entry.target, at); break;
      case 'dir': await mkdir(at, { recursive: true }); await chmod(at, entry.mode); break;
    }
  }
}

export interface Layer { diffId: string; blob: Buffer }

/**
 * GNU tar with the reproducible-builds options; gzip from Node's zlib (same
 * input, same bytes). Names are relative ("usr/bin/node"), as registries'
 * layers have them.
 */
export async function packLayer(tree: Tree): Promise<Layer> {
  const root = await mkdtemp(join(tmpdir(), 'skein-layer-'));
  try {
    await writeTree(tree, root);
    const top = [...new Set([...tree.keys()].map((p) => p.split('/')[1] ?? ''))].filter((x) => x !== '').sort();
    const tar = execFileSync('tar', [
      '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--format=posix',
      '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
      '-C', root, '-cf', '-', ...top,
    ], { maxBuffer: 1 << 30 });
    return { diffId: sha256(tar), blob: gzipSync(tar, { level: 6 }) };
  } catch (err) {
    if (err instanceof ImageBuildError) throw err;
    throw new ImageBuildError('tar_failed', `packing a layer failed: ${(err as Error).message}`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Writes the tree and runs `argv` chrooted in it: proves the image holds everything the program loads. */
export async function smokeTest(tree: Tree, argv: readonly string[], expect: RegExp): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'skein-smoke-'));
  try {
    await writeTree(tree, root);
    let out: string;
    try {
      out = execFileSync('chroot', [root, ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      out = `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message;
    }
    if (!expect.test(out)) throw new ImageBuildError('smoke_test_failed', `"${argv.join(' ')}" in the image printed ${JSON.stringify(out.slice(0, 600))}, expected ${String(expect)}`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
