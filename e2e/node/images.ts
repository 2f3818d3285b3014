// The local node has no container runtime: an image name maps to a command of
// this checkout. One explicit table; an image not in it fails the pod with
// ErrImagePull, as a kubelet would for an image it cannot pull.
import { resolve } from 'node:path';
import { proxyCommand } from '../../proxy-image/proxy/node-runtime.ts';
import { imageRef, repositoryOf } from '../../shared/images.ts';
import { IMAGES } from '../support/images.ts';

export { repositoryOf };

export const REPO_ROOT = resolve(import.meta.dirname, '../..');

export interface Image {
  /** The image's ENTRYPOINT; a container's `command` replaces it. */
  entrypoint: string[];
  /** The image's CMD; a container's `args` replaces it. */
  cmd: string[];
  /** Executables the image puts on its PATH: a container command naming one runs it. */
  bin?: Record<string, string[]>;
}

const script = (path: string): string[] => [process.execPath, resolve(REPO_ROOT, path)];
const node = (path: string): Image => ({ entrypoint: script(path), cmd: [] });

/** Keyed by repository, without tag or digest: the checkout is the only version there is. */
const TABLE: Record<string, Image> = {
  [repositoryOf(IMAGES.echo)]: node('e2e/apps/echo.ts'),
  [repositoryOf(IMAGES.tcpEcho)]: node('e2e/apps/tcp-echo.ts'),
  [repositoryOf(IMAGES.admission)]: node('e2e/apps/admission.ts'),
  [repositoryOf(IMAGES.load)]: node('e2e/apps/load.ts'),
  [repositoryOf(IMAGES.grpc)]: node('e2e/apps/grpc.ts'),
  // Skein's own images run this checkout's code.
  [repositoryOf(imageRef('controller'))]: { entrypoint: script('operator/skein-controller.ts'), cmd: ['controller'] },
  // The proxy image: `skein-proxy` by default, and `skein-init` for the init container.
  // skein-proxy runs with the flags and environment of proxy-image/proxy/node-runtime, as in the image.
  [repositoryOf(imageRef('proxy'))]: {
    entrypoint: proxyCommand(resolve(REPO_ROOT, 'proxy-image/proxy/main.ts')), cmd: [],
    bin: { 'skein-proxy': proxyCommand(resolve(REPO_ROOT, 'proxy-image/proxy/main.ts')), 'skein-init': script('proxy-image/init/main.ts') },
  },
  // Runs the container's own command with the host's tools (sh, iptables, curl), like a busybox image.
  [repositoryOf(IMAGES.shell)]: { entrypoint: ['/bin/sh'], cmd: [] },
};

export class ImagePullError extends Error {
  readonly code = 'ErrImagePull';
  readonly image: string;
  constructor(image: string) {
    super(`image "${image}" is not in the local node's image table (e2e/node/images.ts); known: ${Object.keys(TABLE).join(', ')}`);
    this.image = image;
  }
}

export function lookupImage(image: string): Image {
  const found = TABLE[repositoryOf(image)];
  if (!found) throw new ImagePullError(image);
  return found;
}

/** A command as the image's PATH resolves it: a bare name the image provides runs the image's executable. */
export function resolveCommand(image: Image, argv: readonly string[]): string[] {
  const [first, ...rest] = argv;
  const provided = first !== undefined ? image.bin?.[first] : undefined;
  return provided ? [...provided, ...rest] : [...argv];
}

/** Docker semantics: command replaces ENTRYPOINT (and drops CMD), args replace CMD. */
export function argvFor(image: Image, command: readonly string[] | undefined, args: readonly string[] | undefined): string[] {
  if (command && command.length > 0) return resolveCommand(image, [...command, ...(args ?? [])]);
  return [...image.entrypoint, ...(args && args.length > 0 ? args : image.cmd)];
}
