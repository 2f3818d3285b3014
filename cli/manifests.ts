// What the CLI installs: the CRDs and one kustomization of manifests/,
// rendered by kubectl, as YAML streams the pure steps below work on.
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { REPO_ROOT } from './version.ts';

export const OVERLAYS = ['base', 'ha', 'cert-manager'] as const;
export type Overlay = (typeof OVERLAYS)[number];

export const CRDS_DIR = join(REPO_ROOT, 'crds');
/** The Gateway API's standard-channel CRDs Skein is tested with (crds/gateway-api/VERSION), vendored unchanged. */
export const GATEWAY_CRDS_DIR = join(CRDS_DIR, 'gateway-api');
export const GATEWAY_CRDS_CHOICES = ['skip', 'install'] as const;

export function overlayDir(overlay: Overlay): string {
  return join(REPO_ROOT, 'manifests', overlay === 'base' ? 'base' : join('overlays', overlay));
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export function parseObjects(stream: string): KubeObject[] {
  return parseAllDocuments(stream).map((d) => d.toJS() as unknown).filter((o): o is KubeObject => typeof o === 'object' && o !== null && 'kind' in o);
}

export function toStream(objects: readonly unknown[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

/** Joins YAML streams with document separators, each part ending in a newline. */
export function joinStreams(parts: readonly string[]): string {
  return parts.filter((p) => p.trim() !== '').map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('---\n');
}

/** The value at a path of keys and list indexes, or undefined where the path leaves the object. */
export function valueAt(value: unknown, ...path: readonly (string | number)[]): unknown {
  return path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined), value);
}
