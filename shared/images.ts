// Where Skein's images live: the one place their registry, names and tag are
// set. The manifests, the injector's default proxy image, `kubectl skein
// install --registry/--tag` and `make images` all read it (DESIGN.md, "Names
// that are a contract").

/** A registry path the project owns; `make images` and `install --registry` can use any other. */
export const DEFAULT_REGISTRY = 'ghcr.io/skein-dev';
/** v<package.json version>; shared/images.test.ts keeps the two equal. */
export const DEFAULT_TAG = 'v0.1.0';

/** The images a release ships. */
export const SHIPPED_IMAGES = ['controller', 'proxy'] as const;
export type ShippedImage = (typeof SHIPPED_IMAGES)[number];

/** The webhook's environment variable for the cluster-wide proxy image it injects (`kubectl skein install --registry/--tag` sets it). */
export const PROXY_IMAGE_ENV = 'SKEIN_PROXY_IMAGE';

export interface ImageSource { registry: string; tag: string }

export const DEFAULT_SOURCE: ImageSource = { registry: DEFAULT_REGISTRY, tag: DEFAULT_TAG };

export function imageRef(name: string, source: ImageSource = DEFAULT_SOURCE): string {
  return `${source.registry.replace(/\/+$/, '')}/${name}:${source.tag}`;
}

/** Without tag or digest: `ghcr.io/skein-dev/proxy:v1` is `ghcr.io/skein-dev/proxy`. */
export function repositoryOf(image: string): string {
  const noDigest = image.split('@')[0] ?? image;
  const lastSlash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > lastSlash ? noDigest.slice(0, colon) : noDigest;
}

export type ImageSourceProblem = { field: 'registry' | 'tag'; message: string };

/** Checked before anything is rendered: a bad value would only show up as ErrImagePull on every pod. */
export function checkImageSource(source: ImageSource): ImageSourceProblem[] {
  const problems: ImageSourceProblem[] = [];
  // distribution/reference: host[:port] then lowercase path components.
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*\/?$/.test(source.registry)) {
    problems.push({ field: 'registry', message: `"${source.registry}" is not a registry path such as registry.example.com/skein (lowercase host, optional :port and path)` });
  }
  if (!/^[\w][\w.-]{0,127}$/.test(source.tag)) {
    problems.push({ field: 'tag', message: `"${source.tag}" is not an image tag (letters, digits, "_", "." and "-", at most 128, not starting with "." or "-")` });
  }
  return problems;
}
