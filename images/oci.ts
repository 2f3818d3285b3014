// The OCI image layout, as pure functions of the layers: image config,
// manifest, index and Docker's manifest.json. Every field that could vary
// between builds (creation time, history) is fixed or left out, so the same
// layers give the same digests.
import { createHash } from 'node:crypto';

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface Descriptor { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }

export const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export function describe(mediaType: string, data: Buffer, annotations?: Record<string, string>): Descriptor {
  return { mediaType, digest: sha256(data), size: data.length, ...(annotations ? { annotations } : {}) };
}

export interface RuntimeConfig {
  /** "uid:gid", numeric: the kubelet's runAsNonRoot check can only verify a numeric user. */
  user: string;
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  labels: Record<string, string>;
}

/** A fixed creation time: the image's content, not the moment of the build, decides its digest. */
export const EPOCH = '1970-01-01T00:00:00Z';

export function imageConfig(runtime: RuntimeConfig, diffIds: readonly string[]): Buffer {
  return json({
    created: EPOCH,
    architecture: 'amd64',
    os: 'linux',
    config: {
      User: runtime.user,
      Env: runtime.env,
      Entrypoint: runtime.entrypoint,
      ...(runtime.cmd.length > 0 ? { Cmd: runtime.cmd } : {}),
      WorkingDir: runtime.workingDir,
      Labels: runtime.labels,
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
  });
}

export function imageManifest(config: Descriptor, layers: readonly Descriptor[]): Buffer {
  return json({ schemaVersion: 2, mediaType: MEDIA.manifest, config, layers });
}

/**
 * index.json of the archive. `io.containerd.image.name` is the full reference
 * (what `ctr images import` and `kind load image-archive` name the image),
 * `org.opencontainers.image.ref.name` the tag (what skopeo's
 * `oci-archive:file:tag` and `docker load` read).
 */
export function imageIndex(manifest: Descriptor, ref: string): Buffer {
  const tag = ref.slice(ref.lastIndexOf(':') + 1);
  return json({
    schemaVersion: 2,
    mediaType: MEDIA.index,
    manifests: [{ ...manifest, annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': tag } }],
  });
}

/** Docker's own archive index, so `docker load` of engines older than 25 takes the same file. */
export function dockerManifest(config: Descriptor, layers: readonly Descriptor[], ref: string): Buffer {
  return json([{ Config: blobPath(config.digest), RepoTags: [ref], Layers: layers.map((l) => blobPath(l.digest)) }]);
}

export const blobPath = (digest: string): string => `blobs/${digest.replace(':', '/')}`;

export const OCI_LAYOUT = json({ imageLayoutVersion: '1.0.0' });

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
